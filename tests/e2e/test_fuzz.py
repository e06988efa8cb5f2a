"""A short fuzz campaign against one live server with the overlay.

About 200 generated requests (every category of ``sglang_continuum.fuzz.cases``,
reproducible by seed) on ``/generate``, ``/v1/completions`` and
``/v1/chat/completions``, sent beside real agent programs that hold TTL locks. Pass:
the server never dies, every answer is 2xx or 4xx with a message, the agent programs
finish, and once idle no token is locked and the KV pool is whole. Then the crashes
the long campaigns found (patches 0003-0005) are checked one by one on the same server.

Long campaigns: ``python -m sglang_continuum.fuzz --cases 2000`` (experiments/fuzz).
"""

from __future__ import annotations

import pytest
import requests

from sglang_continuum.fuzz import campaign, cases, report
from sglang_continuum.fuzz import server as fuzz_server
from sglang_continuum.fuzz.send import FAILURES
from sglang_continuum.launcher.server import launch

from .conftest import LOG_DIR

pytestmark = pytest.mark.server

CASES = 200  # about 2 minutes on 2 busy cores; long runs: python -m sglang_continuum.fuzz
SEED = 0


@pytest.fixture(scope="module")
def server():
    with launch(fuzz_server.SERVER_ARGS, LOG_DIR, overlay=True, name="fuzz",
                env=fuzz_server.SERVER_ENV) as srv:
        yield srv


def _post(url: str, route: str, body: dict) -> requests.Response:
    return requests.post(url + route, json=body, timeout=120)


def _healthy(server) -> bool:
    """The process lives and the scheduler serves a one-token request (SGLang's /health
    does the same but sleeps a second before it looks)."""
    if not server.alive():
        return False
    r = requests.post(f"{server.url}/generate", timeout=60, json={
        "input_ids": [11, 12], "sampling_params": {"max_new_tokens": 1}})
    return r.status_code == 200 and len(r.json()["output_ids"]) == 1


def test_short_campaign_keeps_the_server_up_and_the_pool_whole(server):
    limits = fuzz_server.limits_of(server.url, vocab=2048)
    drawn = cases.draw_cases(CASES, SEED, limits)
    assert {c.category for c in drawn} == set(cases.CATEGORIES)
    opts = campaign.Options(concurrency=6, batch=50, agent_threads=2, agent_turns=3,
                            seed=SEED, timeout=120, settle_timeout=60)
    res = campaign.run(server.url, drawn, opts, alive=server.alive, progress=False)
    failures = [o for o in res.outcomes if o.verdict in FAILURES]
    assert res.passed, (f"seed {SEED}: replay with `python -m sglang_continuum.fuzz --cases "
                        f"{CASES} --seed {SEED} --only <index>`\n{report.markdown(res)}\n"
                        f"failures: {failures[:10]}\nproblems: {res.problems[:10]}\n"
                        f"server log: {server.log_path}")
    assert len(res.outcomes) == len(drawn)
    assert res.agents and all(a.turns_done == opts.agent_turns for a in res.agents)
    assert res.final["locked_tokens == 0"] == 0
    assert res.final["used_tokens == 0"] == 0
    assert res.final["after_flush"]["num_used_tokens"] == 0
    assert server.metric("sglang_continuum_locked_tokens") == 0


@pytest.mark.parametrize("route,body", [
    ("/generate", {"input_ids": [[], [11]], "sampling_params": {"max_new_tokens": 1}}),
    ("/generate", {"input_ids": [[11], []], "sampling_params": {"max_new_tokens": 1},
                   "stream": True}),
    ("/v1/completions", {"model": "default", "prompt": [[], [11]], "max_tokens": 1}),
])
def test_empty_prompt_in_a_batch_is_a_400_and_the_server_lives(server, route, body):
    """patches/0004: without it the scheduler dies (AssertionError in release_kv_cache)."""
    r = _post(server.url, route, body)
    streamed = body.get("stream", False)  # the 400 then comes as an error event
    assert r.status_code == (200 if streamed else 400), r.text
    assert "is an empty list" in r.text, r.text
    assert _healthy(server)


@pytest.mark.parametrize("route,body", [
    ("/generate", {"text": "", "sampling_params": {"max_new_tokens": 1}}),
    ("/generate", {"text": ["", "hello"], "sampling_params": {"max_new_tokens": 1}}),
    ("/generate", {"text": "", "sampling_params": {"max_new_tokens": 1}, "stream": True}),
])
def test_prompt_empty_after_tokenization_is_a_400_and_the_server_lives(server, route, body):
    """patches/0013: the tiny model's tokenizer adds no BOS, so "" is 0 tokens; without
    the patch the scheduler dies (zero-token forward, or AssertionError in
    release_kv_cache when batched)."""
    r = _post(server.url, route, body)
    streamed = body.get("stream", False)  # the 400 then comes as an error event
    assert r.status_code == (200 if streamed else 400), r.text
    assert "The prompt is empty" in r.text, r.text
    assert _healthy(server)
    ok = _post(server.url, "/generate", {"text": "hello", "sampling_params": {
        "max_new_tokens": 2, "ignore_eos": True}})
    assert ok.status_code == 200 and ok.json()["meta_info"]["completion_tokens"] == 2, ok.text


@pytest.mark.parametrize("route,body", [
    ("/generate", {"input_ids": [5, 6], "sampling_params": {
        "max_new_tokens": 2, "min_new_tokens": 1, "stop_token_ids": [4096]}}),
    ("/v1/completions", {"model": "default", "prompt": "hi", "max_tokens": 2,
                         "min_tokens": 1, "stop_token_ids": [-1]}),
])
def test_stop_token_ids_outside_the_vocabulary_are_a_400_and_the_server_lives(
        server, route, body):
    """patches/0014: without it the min_new_tokens penalizer's scatter kills the
    scheduler (index out of bounds)."""
    r = _post(server.url, route, body)
    assert r.status_code == 400 and "stop_token_ids must hold token ids in [0, " in r.text, r.text
    assert _healthy(server)


@pytest.mark.parametrize("route,body,field", [
    ("/generate", {"input_ids": [[11], [12]], "sampling_params": [{"max_new_tokens": 2}]},
     "sampling_params has 1 entries for a batch of 2"),
    ("/generate", {"input_ids": [11, 12], "sampling_params": []}, "sampling_params"),
    ("/generate", {"text": ["a", "b"], "sampling_params": {"max_new_tokens": 2},
                   "return_logprob": [True]}, "return_logprob has 1 entries"),
])
def test_mismatched_batch_lists_are_a_400_naming_the_field(server, route, body, field):
    """patches/0003: without it these are bare HTTP 500s (IndexError)."""
    r = _post(server.url, route, body)
    assert r.status_code == 400 and field in r.text, r.text


@pytest.mark.parametrize("route,body", [
    ("/v1/completions", {"model": "default", "prompt": "hi", "max_tokens": 2, "n": 2**63}),
    ("/v1/chat/completions", {"model": "default", "max_tokens": 2, "n": 0,
                              "messages": [{"role": "user", "content": "hi"}]}),
    ("/generate", {"text": "hi", "sampling_params": {"max_new_tokens": 2, "n": -3}}),
    ("/generate", {"text": "hi", "sampling_params": {"max_new_tokens": 2, "n": 10**6}}),
])
def test_bad_n_is_a_400_naming_n(server, route, body):
    """patches/0005: without it 2**63 is an HTTP 500, 0 a misleading message."""
    r = _post(server.url, route, body)
    assert r.status_code == 400 and "n (parallel samples)" in r.text, r.text
    assert _healthy(server)


@pytest.mark.parametrize("route,body", [
    ("/generate", {"input_ids": [11, 12, 13], "return_logprob": True, "logprob_start_len": 0,
                   "top_logprobs_num": 100_000, "sampling_params": {"max_new_tokens": 1}}),
    ("/v1/completions", {"model": "default", "prompt": [11, 12, 13], "max_tokens": 1,
                         "echo": True, "logprobs": 100_000}),
])
def test_top_logprobs_above_vocab_is_a_400_and_the_server_lives(server, route, body):
    """patches/0006: without it torch.topk fails in the scheduler, which exits."""
    r = _post(server.url, route, body)
    assert r.status_code == 400 and "top_logprobs_num" in r.text, r.text
    assert _healthy(server)


@pytest.mark.parametrize("route,body", [
    ("/generate", {"input_ids": [[11, 12, 13], [14, 15, 16]], "return_logprob": [True, False],
                   "logprob_start_len": [0, -1], "top_logprobs_num": [1, 100_000],
                   "sampling_params": {"max_new_tokens": 2}}),
    ("/v1/chat/completions", {"model": "default", "max_tokens": 2, "logprobs": False,
                              "top_logprobs": 100_000,
                              "messages": [{"role": "user", "content": "hi"}]}),
])
def test_ignored_top_logprobs_num_above_vocab_is_a_400_and_the_server_lives(server, route, body):
    """patches/0019: a request that does not ask for logprobs still adds its
    top_logprobs_num to the top-k of a batch in which another request asks; without
    the patch the batch above (one HTTP request) ends the scheduler in torch.topk."""
    r = _post(server.url, route, body)
    assert r.status_code == 400 and "top_logprobs_num" in r.text, r.text
    assert _healthy(server)
    ok = _post(server.url, "/generate", {
        "input_ids": [[11, 12, 13], [14, 15, 16]], "return_logprob": [True, False],
        "logprob_start_len": [0, -1], "top_logprobs_num": [1, 5],
        "sampling_params": {"max_new_tokens": 2}})
    assert ok.status_code == 200, ok.text
    asked, ignored = ok.json()
    assert all(len(row) == 1 for row in asked["meta_info"]["output_top_logprobs"])
    assert "output_top_logprobs" not in ignored["meta_info"]


@pytest.mark.parametrize("depth", [600, 1000])
def test_too_deep_nesting_is_a_400_and_the_server_lives(server, depth):
    """patches/0008: JSON this deep parses (orjson allows 1024 levels) but pickling it to
    the scheduler raises RecursionError: without the patch a bare HTTP 500."""
    nested = '{"a":' * depth + "1" + "}" * depth
    raw = ('{"input_ids": [11, 12], "sampling_params": {"max_new_tokens": 1, '
           f'"custom_params": {{"zz": {nested}}}}}}}')
    r = requests.post(f"{server.url}/generate", data=raw.encode(), timeout=120,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "nested too deeply" in r.text, r.text[:300]
    assert _healthy(server)
    ok = _post(server.url, "/generate", {"input_ids": [11, 12],
                                         "sampling_params": {"max_new_tokens": 1}})
    assert ok.status_code == 200, ok.text


NUMERIC_SAMPLING = ("temperature", "top_p", "top_k", "min_p", "frequency_penalty",
                    "presence_penalty", "repetition_penalty", "max_new_tokens",
                    "min_new_tokens", "n", "sampling_seed", "stream_interval")
EXTREMES = (1e-320, 5e-324, -5e-324, 1e308, -1e308, 3.5e38, -0.0, "inf", "nan",
            "9" * 400, "RAW:" + "9" * 400, "RAW:1e400")


def _raw_body(sampling: dict, raw: dict) -> bytes:
    """A /generate body; values in ``raw`` are spliced in as JSON number literals."""
    from sglang_continuum.fuzz.send import encode
    from sglang_continuum.fuzz.values import RawJSON

    sp = {**sampling, **{k: RawJSON(v) for k, v in raw.items()}}
    return encode({"input_ids": [665, 103], "sampling_params": sp})


def test_extreme_numbers_in_every_numeric_field_leave_the_server_serving(server):
    """Denormals, the largest doubles, inf/nan spellings, 400-digit strings and numbers
    that overflow a double, in every numeric sampling field, a logit_bias value and the
    overlay's TTL: each answer is 2xx or a 4xx with a short message, and the server
    answers after each one (stock SGLang 0.5.23 died on repetition_penalty 1e-320, top_k
    2**31 and a logit_bias of 1e308; patches/0016)."""
    from sglang_continuum.fuzz.send import judge

    fields = [(f, lambda f, x: {f: x}) for f in NUMERIC_SAMPLING] + [
        ("logit_bias", lambda f, x: {"logit_bias": {"5": x}}),
        ("cache_control.ttl", lambda f, x: {"custom_params": {
            "program_id": "extreme", "cache_control": {"type": "ephemeral", "ttl": x}}}),
    ]
    wrong = []
    for field, put in fields:
        for value in EXTREMES:
            base = {"max_new_tokens": 4, "temperature": 1.0, "top_k": 5}
            raw = {}
            if isinstance(value, str) and value.startswith("RAW:"):
                if field in ("logit_bias", "cache_control.ttl"):
                    continue  # nested; the flat fields carry the raw literals
                raw, value = {field: value[4:]}, None
                base.pop(field, None)
                params = base
            else:
                params = {**base, **put(field, value)}
            r = requests.post(f"{server.url}/generate", data=_raw_body(params, raw),
                              headers={"Content-Type": "application/json"}, timeout=120)
            shown = repr(raw or value)[:40]
            verdict = judge(r.status_code, r.text, streamed=False)
            if verdict not in ("2xx", "4xx"):
                wrong.append((field, shown, verdict, r.text[:200]))
            if not _healthy(server):
                pytest.fail(f"server died on {field}={shown}: {r.text[:200]}; "
                            f"log {server.log_path}")
    assert not wrong, wrong


@pytest.mark.parametrize("rid", [[], [["x"]], 7])
def test_a_rid_that_is_not_a_string_is_a_400(server, rid):
    """patches/0018: without it a single request's list rid is an HTTP 500 (TypeError in
    the tokenizer manager's rid table)."""
    r = _post(server.url, "/generate", {"text": "hi", "rid": rid,
                                        "sampling_params": {"max_new_tokens": 1}})
    assert r.status_code == 400 and "rid" in r.text, r.text
