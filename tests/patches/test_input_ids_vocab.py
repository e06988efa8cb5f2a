"""patches/0002: token ids outside the vocabulary get HTTP 400 instead of killing the
scheduler. Stock SGLang 0.5.23 (here with the overlay disabled) raises IndexError in
the embedding for ``input_ids`` [5, 6, 7, 99999] and exits; with the patch the request
is refused at the edge, naming ``input_ids``, the id and the valid range, on every
route that takes token ids, and the server keeps serving."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from sglang_continuum.launcher.server import launch

pytestmark = pytest.mark.server

LOG_DIR = Path(os.environ.get("SGLANG_CONTINUUM_TEST_LOGS", "/tmp/sglang-continuum-test-logs"))


@pytest.fixture(scope="module")
def stock():
    with launch(["--max-total-tokens", "4096"], LOG_DIR, overlay=False,
                name="patch-vocab") as server:
        yield server


@pytest.mark.parametrize("route, body, named", [
    ("/generate", {"input_ids": [5, 6, 7, 99999], "sampling_params": {"max_new_tokens": 4}},
     "out-of-vocabulary token id 99999; valid range is [0, "),
    ("/generate", {"input_ids": [5, -1, 7], "sampling_params": {"max_new_tokens": 4}},
     "out-of-vocabulary token id -1; valid range is [0, "),
    # SGLang's request schema already refuses non-integers, naming input_ids.
    ("/generate", {"input_ids": [5, 6.5, 7], "sampling_params": {"max_new_tokens": 4}},
     "input_ids"),
    ("/v1/completions", {"model": "default", "prompt": [5, 6, 7, 99999], "max_tokens": 4},
     "out-of-vocabulary token id 99999; valid range is [0, "),
])
def test_out_of_vocabulary_ids_get_400_and_the_server_lives(stock, route, body, named):
    r = requests.post(stock.url + route, json=body, timeout=60)
    assert r.status_code == 400, (r.status_code, r.text[:500])
    assert named in r.text, r.text[:500]
    ok = requests.post(stock.url + "/generate", json={
        "input_ids": [5, 6, 7], "sampling_params": {"max_new_tokens": 2, "ignore_eos": True}},
        timeout=120)
    assert ok.status_code == 200 and stock.alive(), ok.text[:500]
    assert ok.json()["meta_info"]["completion_tokens"] == 2


def test_the_last_id_of_the_vocabulary_is_still_served(stock):
    r = requests.get(f"{stock.url}/get_model_info", timeout=30)
    assert r.status_code == 200
    from transformers import AutoConfig

    vocab = AutoConfig.from_pretrained(r.json()["model_path"]).vocab_size
    ok = requests.post(stock.url + "/generate", json={
        "input_ids": [0, vocab - 1], "sampling_params": {"max_new_tokens": 1}}, timeout=120)
    assert ok.status_code == 200, ok.text[:500]
    no = requests.post(stock.url + "/generate", json={
        "input_ids": [0, vocab], "sampling_params": {"max_new_tokens": 1}}, timeout=120)
    assert no.status_code == 400 and f"[0, {vocab})" in no.text, no.text[:500]
