"""End to end: the conventions clients already send key programs, through the real server.

- OpenAI ``prompt_cache_key`` on ``/v1/chat/completions`` and ``/v1/completions``;
- Anthropic ``/v1/messages``: ``metadata.user_id`` (program identity) and block-level
  ``cache_control {type, ttl}`` (a TTL hint, bounded by the max TTL);
- the ``X-SMG-Routing-Key`` header (what smg forwards; any client can send it).

Precedence: ``custom_params.program_id`` > ``session_id`` > ``prompt_cache_key`` /
``metadata.user_id`` > header > inference. Bad values get a 400 naming the field.
The chat route reports the keyed program in ``metadata.continuum``; the messages
route's response has no such field, so its program is seen through the lock its next
turn consumes (``/generate`` with the same id) and its TTL through the lock lapsing.
"""

from __future__ import annotations

import pytest
import requests

from sglang_continuum.launcher.client import generate, random_ids

pytestmark = pytest.mark.server

MAX_TTL = 40  # --continuum-max-ttl; an unhinted explicit lock holds this long
SHORT_TTL_S = 2  # a hint that must lapse well inside the wait below
LAPSE_WAIT_S = 25  # < MAX_TTL: a lock that ignored the hint would not lapse in time
MAX_ERROR_CHARS = 2000


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(["--continuum-max-ttl", str(MAX_TTL)])


def _chat(server, body_extra: dict, headers=None, text="show the diff ") -> requests.Response:
    body = {"model": "default", "max_tokens": 3, "temperature": 0,
            "messages": [{"role": "user", "content": text * 30}], **body_extra}
    return requests.post(f"{server.url}/v1/chat/completions", json=body,
                         headers=headers or {}, timeout=120)


def _messages(server, body_extra: dict, block_extra=None, text="read the file ") -> requests.Response:
    block = {"type": "text", "text": text * 30, **(block_extra or {})}
    body = {"model": "default", "max_tokens": 3,
            "messages": [{"role": "user", "content": [block]}], **body_extra}
    return requests.post(f"{server.url}/v1/messages", json=body, timeout=120)


def _keyed(r: requests.Response) -> tuple:
    assert r.status_code == 200, r.text
    fb = r.json()["metadata"]["continuum"][0]
    return fb["keyed_by"], fb["program"]


def test_prompt_cache_key_keys_a_chat_program_across_turns(server):
    r = _chat(server, {"prompt_cache_key": "codex-conv-1"}, text="open main.py ")
    assert _keyed(r) == ("prompt_cache_key", "codex-conv-1")
    fb = r.json()["metadata"]["continuum"][0]
    assert fb["lock"] is not None  # an explicit program's context is held
    again = _chat(server, {"prompt_cache_key": "codex-conv-1"}, text="open main.py ")
    assert again.json()["metadata"]["continuum"][0]["lock_hit"] is True


def test_prompt_cache_key_on_completions(server):
    body = {"model": "default", "max_tokens": 2, "temperature": 0,
            "prompt": "def main(): " * 20, "prompt_cache_key": "compl-1"}
    r = requests.post(f"{server.url}/v1/completions", json=body, timeout=120)
    assert r.status_code == 200, r.text
    follow = generate(server.url, random_ids(20, 1), 2, program="compl-1")
    assert follow["meta_info"]["continuum"][0]["lock_hit"] is True  # same program


@pytest.mark.parametrize("extra, headers, expected", [
    ({"custom_params": {"program_id": "explicit"}, "prompt_cache_key": "pck"},
     {"X-SMG-Routing-Key": "hdr"}, ("program_id", "explicit")),
    ({"session_id": "sess", "prompt_cache_key": "pck"}, {}, ("session_id", "sess")),
    ({"prompt_cache_key": "pck"}, {"X-SMG-Routing-Key": "hdr"}, ("prompt_cache_key", "pck")),
    ({}, {"X-SMG-Routing-Key": "hdr"}, ("routing_key", "hdr")),
], ids=["custom_params", "session_id", "prompt_cache_key", "header"])
def test_precedence(server, extra, headers, expected):
    assert _keyed(_chat(server, extra, headers)) == expected


def test_anthropic_user_id_keys_the_program(server):
    r = _messages(server, {"metadata": {"user_id": "claude-u1"}},
                  {"cache_control": {"type": "ephemeral"}})
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "message"
    # Its lock (held: no ttl given) is the one the program's next turn consumes.
    follow = generate(server.url, random_ids(20, 2), 2, program="claude-u1")
    assert follow["meta_info"]["continuum"][0]["lock_hit"] is True


def test_anthropic_cache_control_ttl_is_a_ttl_hint(server):
    lapsed = server.metric("sglang_continuum_locks_lapsed_total")
    r = _messages(server, {"metadata": {"user_id": "claude-u2"}},
                  {"cache_control": {"type": "ephemeral", "ttl": f"{SHORT_TTL_S}s"}},
                  text="grep for TODO ")
    assert r.status_code == 200, r.text
    server.wait_metric("sglang_continuum_locks_lapsed_total", lambda v: v >= lapsed + 1,
                       timeout=LAPSE_WAIT_S)


@pytest.mark.parametrize("route, extra, block, field", [
    ("chat", {"prompt_cache_key": 7}, None, "'prompt_cache_key'"),
    ("chat", {"prompt_cache_key": "k" * 10_000}, None, "'prompt_cache_key'"),
    ("completions", {"prompt_cache_key": "a\nb"}, None, "'prompt_cache_key'"),
    ("messages", {"metadata": {"user_id": ""}}, None, "'metadata.user_id'"),
    ("messages", {"metadata": {"user_id": "u"}}, {"cache_control": {"type": "ephemeral",
                                                                    "ttl": "forever"}},
     "'messages[0].content[0].cache_control.ttl'"),
    ("messages", {}, {"cache_control": {"type": "persistent"}},
     "'messages[0].content[0].cache_control.type'"),
], ids=["pck-int", "pck-10k", "pck-newline", "user-empty", "ttl-text", "cc-type"])
def test_bad_values_get_400_naming_the_field(server, route, extra, block, field):
    if route == "chat":
        r = _chat(server, extra)
    elif route == "completions":
        r = requests.post(f"{server.url}/v1/completions", timeout=60, json={
            "model": "default", "max_tokens": 1, "prompt": "x", **extra})
    else:
        r = _messages(server, extra, block)
    assert r.status_code == 400, r.text
    assert field in r.text, r.text
    assert len(r.text) < MAX_ERROR_CHARS  # the value's echo is bounded
    assert server.alive()
