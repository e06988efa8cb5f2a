"""End to end: TTL locks in a real SGLang server, through the HTTP API."""

from __future__ import annotations


import pytest
import requests

from sglang_continuum.launcher.client import generate, random_ids

pytestmark = pytest.mark.server

PROGRAM_TOKENS = 1500
COMPETITOR_TOKENS = 3000  # three of these overflow the 8192-token pool


def _program_turn_then_competition(url: str, program: str, seed: int) -> tuple[int, int]:
    """Turn 1 of a program, three competing prompts, then turn 2.

    Returns (turn-1 context tokens, turn-2 cached tokens)."""
    prompt = random_ids(PROGRAM_TOKENS, seed)
    first = generate(url, prompt, 16, program=program, ttl="60s", tool="pytest")
    context = prompt + first["output_ids"]
    for i in range(3):
        generate(url, random_ids(COMPETITOR_TOKENS, seed * 100 + i), 4)
    second = generate(url, context + random_ids(100, seed + 1), 8, program=program, last=True)
    return len(context), second["meta_info"]["cached_tokens"]


@pytest.fixture(scope="module")
def overlay(start_server):
    return start_server(name="overlay")


@pytest.fixture(scope="module")
def stock(start_server):
    return start_server(overlay=False, name="stock")


def test_locked_context_survives_competition(overlay):
    context, cached = _program_turn_then_competition(overlay.url, "agent-1", seed=1)
    assert cached >= 0.95 * context, (cached, context)


def test_stock_sglang_misses_the_same_scenario(stock):
    context, cached = _program_turn_then_competition(stock.url, "agent-1", seed=1)
    assert cached < 0.2 * context, (cached, context)


def test_lock_lapses_and_kv_becomes_reusable(overlay):
    before = overlay.metric("sglang_continuum_locks_lapsed_total")
    set0 = overlay.metric("sglang_continuum_locks_set_total")
    generate(overlay.url, random_ids(1200, 9), 8, program="vanishes", ttl="2s")
    overlay.wait_metric("sglang_continuum_locks_set_total", set0 + 1)
    # The lock lapses by itself (no request arrives to trigger anything).
    overlay.wait_metric("sglang_continuum_locks_lapsed_total", before + 1)
    assert overlay.wait_metric("sglang_continuum_locked_tokens", 0) == 0
    # The lapsed context is ordinary cache: still matchable until evicted ...
    hit = generate(overlay.url, random_ids(1200, 9), 4)["meta_info"]["cached_tokens"]
    assert hit >= 1199
    # ... and evictable: a prompt needing nearly the whole pool is served.
    big = generate(overlay.url, random_ids(7800, 10), 4)
    assert big["meta_info"]["prompt_tokens"] == 7800


def test_last_turn_releases_the_lock(overlay):
    before = overlay.metric("sglang_continuum_locked_tokens")
    generate(overlay.url, random_ids(800, 21), 8, program="short", ttl="60s")
    locked = overlay.wait_metric("sglang_continuum_locked_tokens", before + 808)
    ctx = random_ids(800, 21)
    generate(overlay.url, ctx + random_ids(50, 22), 4, program="short", last=True)
    assert overlay.wait_metric("sglang_continuum_locked_tokens", locked - 808) == before


@pytest.mark.parametrize("custom, field", [
    ({"program_id": ""}, "program_id"),
    ({"program_id": "p", "last_turn": "yes"}, "last_turn"),
    ({"program_id": "p", "tool": "rm -rf\n"}, "tool"),
    ({"program_id": "p", "cache_control": {"type": "ephemeral", "ttl": "-3s"}},
     "cache_control.ttl"),
    ({"program_id": "p", "cache_control": {"type": "persistent", "ttl": "3s"}},
     "cache_control.type"),
])
def test_bad_fields_get_http_400_naming_the_field(overlay, custom, field):
    r = requests.post(f"{overlay.url}/generate", json={
        "input_ids": [11, 12, 13], "sampling_params": {"max_new_tokens": 2,
                                                       "custom_params": custom}}, timeout=30)
    assert r.status_code == 400, r.text
    assert field in r.text
    ok = generate(overlay.url, [11, 12, 13], 2)  # and the server keeps serving
    assert ok["meta_info"]["completion_tokens"] == 2


def test_openai_chat_carries_the_program(overlay):
    body = {"model": "default", "max_tokens": 4, "temperature": 0,
            "messages": [{"role": "user", "content": "run the tests " * 200}],
            "custom_params": {"program_id": "chat-1", "cache_control":
                              {"type": "ephemeral", "ttl": "30s"}}}
    before = overlay.metric("sglang_continuum_locks_set_total")
    r = requests.post(f"{overlay.url}/v1/chat/completions", json=body, timeout=60)
    assert r.status_code == 200, r.text
    overlay.wait_metric("sglang_continuum_locks_set_total", before + 1)
    bad = dict(body, custom_params={"program_id": "chat-1", "last_turn": 3})
    r = requests.post(f"{overlay.url}/v1/chat/completions", json=bad, timeout=60)
    assert r.status_code == 400 and "last_turn" in r.text, r.text


def test_requests_without_program_ids_behave_as_stock(overlay, stock):
    """Same outputs (greedy, same seeded dummy weights) and same cache hits."""
    base = random_ids(700, 600)
    prompts = [base, base + random_ids(200, 601), random_ids(500, 602),
               base + random_ids(300, 603)]
    seen = {}
    for name, server in (("overlay", overlay), ("stock", stock)):
        seen[name] = [(r["output_ids"], r["meta_info"]["cached_tokens"])
                      for r in (generate(server.url, p, 12) for p in prompts)]
    assert seen["overlay"] == seen["stock"]
    assert [c for _, c in seen["stock"]] == [0, 700, 0, 700]


def test_out_of_vocabulary_ids_get_400_and_other_programs_keep_their_locks(overlay):
    """Stock SGLang dies on this request (patches/0002 refuses it at the edge): the
    scheduler, every program's KV and every lock would be gone."""
    prompt = random_ids(400, 970)
    first = generate(overlay.url, prompt, 4, program="survivor", ttl="60s")
    overlay.settle()
    locked = overlay.metric("sglang_continuum_locked_tokens")
    assert locked >= 404
    for route, body in (
        ("/generate", {"input_ids": [5, 6, 7, 99999], "sampling_params": {"max_new_tokens": 4}}),
        ("/v1/completions", {"model": "default", "prompt": [5, 6, 7, 99999], "max_tokens": 4}),
        ("/generate", {"input_ids": [5, 6, 7, 99999], "sampling_params": {
            "max_new_tokens": 4, "custom_params": {"program_id": "survivor"}}}),
    ):
        r = requests.post(overlay.url + route, json=body, timeout=60)
        assert r.status_code == 400, (route, r.status_code, r.text[:300])
        assert "input_ids" in r.text and "99999" in r.text, r.text[:300]
    assert overlay.alive()
    overlay.settle()
    assert overlay.metric("sglang_continuum_locked_tokens") == locked
    consumed = overlay.metric("sglang_continuum_locks_consumed_total")
    nxt = generate(overlay.url, prompt + first["output_ids"] + [11], 2, program="survivor",
                   last=True)
    assert nxt["meta_info"]["cached_tokens"] >= 400, nxt["meta_info"]
    overlay.wait_metric("sglang_continuum_locks_consumed_total", consumed + 1)
