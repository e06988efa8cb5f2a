"""End to end: every overlay field is validated at the HTTP edge.

One server, many cases, on both ``/generate`` and ``/v1/chat/completions``: each bad
value gets HTTP 400 with a message naming the field (and what is accepted); documented
clamps are served. Afterwards the server still serves and no state was corrupted: no
lock, no program entry was left behind by a rejected request.
"""

from __future__ import annotations

import json

import pytest
import requests

from sglang_continuum.launcher.client import generate, random_ids

pytestmark = pytest.mark.server

MAX_TTL = 3  # --continuum-max-ttl: hints above it are clamped, not refused
CLAMP_DEADLINE_S = 300  # far above MAX_TTL, far below the smallest unclamped hint (1h)

PID_ACCEPTED = "1 to 128 printable characters"
TOOL_ACCEPTED = "[A-Za-z0-9_.:/-]"
TTL_ACCEPTED = "'500ms', '30s'"

# (case id, custom_params as raw JSON text, field named in the 400, accepted-values text)
REJECTED = [
    ("pid-int", '{"program_id": 7}', "program_id", PID_ACCEPTED),
    ("pid-empty", '{"program_id": ""}', "program_id", PID_ACCEPTED),
    ("pid-long", json.dumps({"program_id": "p" * 129}), "program_id", PID_ACCEPTED),
    ("pid-10k", json.dumps({"program_id": "p" * 10_000}), "program_id", PID_ACCEPTED),
    ("pid-newline", json.dumps({"program_id": "a\nb"}), "program_id", PID_ACCEPTED),
    ("pid-nul", json.dumps({"program_id": "a\u0000b"}), "program_id", PID_ACCEPTED),
    ("pid-list", '{"program_id": ["a"]}', "program_id", PID_ACCEPTED),
    ("pid-object", '{"program_id": {"id": "a"}}', "program_id", PID_ACCEPTED),
    ("custom-string", '"program_id=p"', "custom_params", "expected an object"),
    ("last-string", '{"program_id": "p", "last_turn": "yes"}', "last_turn", "true or false"),
    ("last-int", '{"program_id": "p", "last_turn": 1}', "last_turn", "true or false"),
    ("last-null", '{"program_id": "p", "last_turn": null}', "last_turn", "true or false"),
    ("tool-newline", json.dumps({"program_id": "p", "tool": "rm -rf\n"}), "tool",
     TOOL_ACCEPTED),
    ("tool-escape", json.dumps({"program_id": "p", "tool": "ls\u001b[2J"}), "tool",
     TOOL_ACCEPTED),
    ("tool-long", json.dumps({"program_id": "p", "tool": "t" * 65}), "tool", TOOL_ACCEPTED),
    ("tool-int", '{"program_id": "p", "tool": 3}', "tool", TOOL_ACCEPTED),
    ("tool-empty", '{"program_id": "p", "tool": ""}', "tool", TOOL_ACCEPTED),
    ("cc-string", '{"program_id": "p", "cache_control": "30s"}', "cache_control",
     "expected an object"),
    ("cc-type", '{"program_id": "p", "cache_control": {"type": "persistent", "ttl": "3s"}}',
     "cache_control.type", "ephemeral"),
    ("ttl-negative", '{"program_id": "p", "cache_control": {"type": "ephemeral", "ttl": -1}}',
     "cache_control.ttl", TTL_ACCEPTED),
    ("ttl-neg-text",
     '{"program_id": "p", "cache_control": {"type": "ephemeral", "ttl": "-3s"}}',
     "cache_control.ttl", TTL_ACCEPTED),
    ("ttl-nan", '{"program_id": "p", "cache_control": {"type": "ephemeral", "ttl": NaN}}',
     "cache_control.ttl", TTL_ACCEPTED),
    ("ttl-inf",
     '{"program_id": "p", "cache_control": {"type": "ephemeral", "ttl": Infinity}}',
     "cache_control.ttl", TTL_ACCEPTED),
    ("ttl-neg-inf",
     '{"program_id": "p", "cache_control": {"type": "ephemeral", "ttl": -Infinity}}',
     "cache_control.ttl", TTL_ACCEPTED),
    ("ttl-overflow",
     '{"program_id": "p", "cache_control": {"type": "ephemeral", "ttl": 1e400}}',
     "cache_control.ttl", TTL_ACCEPTED),
    ("ttl-bool", '{"program_id": "p", "cache_control": {"type": "ephemeral", "ttl": true}}',
     "cache_control.ttl", TTL_ACCEPTED),
    ("ttl-no-unit",
     '{"program_id": "p", "cache_control": {"type": "ephemeral", "ttl": "30"}}',
     "cache_control.ttl", TTL_ACCEPTED),
    ("ttl-word",
     '{"program_id": "p", "cache_control": {"type": "ephemeral", "ttl": "forever"}}',
     "cache_control.ttl", TTL_ACCEPTED),
    ("ttl-list",
     '{"program_id": "p", "cache_control": {"type": "ephemeral", "ttl": [1]}}',
     "cache_control.ttl", TTL_ACCEPTED),
    # Digit strings that parse to inf: refused, and the value is not echoed whole.
    ("ttl-400-digits", json.dumps({"program_id": "p", "cache_control": {
        "type": "ephemeral", "ttl": "9" * 400 + "s"}}), "cache_control.ttl", TTL_ACCEPTED),
    ("ttl-100k-digits", json.dumps({"program_id": "p", "cache_control": {
        "type": "ephemeral", "ttl": "9" * 100_000 + "ms"}}), "cache_control.ttl",
     TTL_ACCEPTED),
    ("tool-100k", json.dumps({"program_id": "p", "tool": "t" * 100_000}), "tool",
     TOOL_ACCEPTED),
]

# Why each case is refused; a case passes only for its own reason.
# NaN, Infinity and 1e400 are not JSON numbers SGLang's parser takes (RFC 8259 has no
# NaN/Infinity; orjson refuses out-of-range doubles): 400 json_invalid, before the
# overlay sees the request.
NOT_JSON = {"ttl-nan", "ttl-inf", "ttl-neg-inf", "ttl-overflow"}
# The OpenAI routes type custom_params as an object: SGLang's request schema refuses a
# string first, and its 400 names the field in `loc`.
SCHEMA_ON_CHAT = {"custom-string"}
# An error echoes at most 32 characters of a value; the rest of a 400 is fixed text.
MAX_ERROR_CHARS = 1000


def _refused_for_its_reason(case: str, route: str, field: str, accepted: str,
                            text: str) -> bool:
    if case in NOT_JSON:
        return "json_invalid" in text
    if route != "/generate" and case in SCHEMA_ON_CHAT:
        return "validation error" in text and repr(field) in text
    return repr(field) in text and accepted in text


def _generate_body(custom_raw: str, extra: str = "") -> str:
    return ('{"input_ids": [11, 12, 13], "sampling_params": {"max_new_tokens": 2, '
            f'"custom_params": {custom_raw}}}{extra}}}')


def _chat_body(custom_raw: str) -> str:
    return ('{"model": "default", "max_tokens": 2, "messages": [{"role": "user", '
            f'"content": "hello"}}], "custom_params": {custom_raw}}}')


def _post(url: str, path: str, raw: str) -> requests.Response:
    return requests.post(f"{url}{path}", data=raw.encode(), timeout=60,
                         headers={"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(["--continuum-max-ttl", str(MAX_TTL)], name="bad-input")


STATE = ("sglang_continuum_locked_tokens", "sglang_continuum_active_locks",
         "sglang_continuum_programs")


def _state(server) -> tuple[float, float, float]:
    server.settle()  # the exported snapshot now holds everything sent before
    return (server.metric("sglang_continuum_locked_tokens"),
            server.metric("sglang_continuum_active_locks"),
            server.metric("sglang_continuum_programs"))


@pytest.mark.parametrize("route", ["/generate", "/v1/chat/completions"])
def test_every_bad_field_gets_400_naming_it_and_state_is_untouched(server, route):
    before = _state(server)
    wrong = []
    for case, custom, field, accepted in REJECTED:
        raw = _generate_body(custom) if route == "/generate" else _chat_body(custom)
        r = _post(server.url, route, raw)
        if r.status_code != 400 or not _refused_for_its_reason(case, route, field,
                                                               accepted, r.text):
            wrong.append((case, r.status_code, r.text[:300]))
        if len(r.text) > MAX_ERROR_CHARS:
            wrong.append((case, "echoes too much of the input", len(r.text)))
    assert not wrong, wrong
    assert server.alive()
    assert _state(server) == before  # no lock, no program entry from rejected requests
    ok = generate(server.url, [11, 12, 13], 2)
    assert ok["meta_info"]["completion_tokens"] == 2


def test_bad_routing_key_fallback_is_rejected(server):
    r = _post(server.url, "/generate", '{"input_ids": [11, 12], "routing_key": "a\\u0007b", '
              '"sampling_params": {"max_new_tokens": 1}}')
    assert r.status_code == 400 and "'routing_key'" in r.text, r.text


def test_absurd_ttl_hints_are_clamped_to_max_ttl(server):
    """Documented clamp: a hint above --continuum-max-ttl is served, held MAX_TTL."""
    for i, ttl in enumerate(["1h", 1e12, "99999h"]):
        before = server.metric("sglang_continuum_locks_lapsed_total")
        generate(server.url, random_ids(300, 900 + i), 2, program=f"clamp-{i}", ttl=ttl)
        # The lapse is the state waited for. Its deadline tells a clamped lock
        # (MAX_TTL seconds) from an unclamped one (an hour or more), with room for a
        # loaded machine; a lock that does not lapse by then was not clamped.
        try:
            server.wait_metric("sglang_continuum_locks_lapsed_total", before + 1,
                               timeout=CLAMP_DEADLINE_S)
        except TimeoutError:
            pytest.fail(f"ttl {ttl!r} was not clamped to {MAX_TTL}s")


def test_last_turn_of_an_unknown_program_is_harmless(server):
    before = _state(server)
    out = generate(server.url, random_ids(200, 950), 2, program="never-seen", last=True)
    assert out["meta_info"]["completion_tokens"] == 2
    assert _state(server) == before


def test_unknown_keys_are_ignored_and_null_program_is_a_stock_request(server):
    before = _state(server)
    r = _post(server.url, "/generate", _generate_body(
        '{"program_id": null, "something_else": [1, 2], "last_turn": "ignored"}'))
    assert r.status_code == 200, r.text  # no program id: the overlay reads nothing else
    assert _state(server) == before



# Sampling values that give no finite probabilities (patches/0016): each killed the
# scheduler of stock SGLang 0.5.23 (NaN in torch.multinomial, or an int32 overflow).
HOSTILE_SAMPLING = [
    ("/generate", {"temperature": 1.0, "top_k": 5, "repetition_penalty": 1e-320},
     "repetition_penalty must be in [1e-06, 2]"),
    ("/generate", {"temperature": 1e-5, "repetition_penalty": 1e-30},
     "repetition_penalty must be in [1e-06, 2]"),
    ("/generate", {"top_k": 2**31}, "top_k must be -1 (disable) or in [1, 1073741824]"),
    ("/generate", {"logit_bias": {"5": 1e308}}, "logit_bias values must be numbers"),
    ("/generate", {"temperature": 1e308}, "temperature must be in [0, 1e+06]"),
    ("/v1/chat/completions", {"temperature": 1.0, "repetition_penalty": 5e-324},
     "repetition_penalty must be in [1e-06, 2]"),
]


def test_sampling_values_without_finite_probabilities_get_400_and_the_server_serves(
        server):
    wrong = []
    for route, params, accepted in HOSTILE_SAMPLING:
        if route == "/generate":
            body = {"input_ids": [665, 103],
                    "sampling_params": {"max_new_tokens": 6, **params}}
        else:
            body = {"model": "default", "max_tokens": 6, **params,
                    "messages": [{"role": "user", "content": "hello"}]}
        r = requests.post(f"{server.url}{route}", json=body, timeout=60)
        if r.status_code != 400 or accepted not in r.text or len(r.text) > MAX_ERROR_CHARS:
            wrong.append((route, params, r.status_code, r.text[:300]))
    assert not wrong, wrong
    assert server.alive()
    ok = generate(server.url, [665, 103], 6)
    assert ok["meta_info"]["completion_tokens"] == 6
