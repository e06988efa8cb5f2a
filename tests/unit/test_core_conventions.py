"""Conventions clients already send, read from a raw request body (core/hints.py), and
their place in the precedence of program ids."""

from __future__ import annotations

import pytest

from sglang_continuum.core import HintError, parse_hints, read_conventions


def test_openai_prompt_cache_key():
    assert read_conventions({"prompt_cache_key": "conv-1", "model": "m"}, "openai") == \
        {"prompt_cache_key": "conv-1"}
    assert read_conventions({"model": "m"}, "openai") == {}
    assert read_conventions({"metadata": {"user_id": "u"}}, "openai") == {}  # OpenAI's own
    assert read_conventions("not a body", "openai") == {}


def test_anthropic_user_id_and_last_cache_control_ttl():
    body = {"metadata": {"user_id": "u-7"},
            "tools": [{"name": "t", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "a", "cache_control": {"type": "ephemeral",
                                                                "ttl": "5m"}},
                {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": "plain string content"}]}
    assert read_conventions(body, "anthropic") == {
        "user_id": "u-7", "cache_control": {"type": "ephemeral", "ttl": 300.0}}


def test_a_long_key_stands_as_a_stable_digest():
    # Claude Code's metadata.user_id: user hash, account and session, ~160 characters.
    user_id = "user_" + "ab" * 32 + "_account_" + "1" * 36 + "_session_" + "2" * 36
    first = read_conventions({"metadata": {"user_id": user_id}}, "anthropic")["user_id"]
    again = read_conventions({"metadata": {"user_id": user_id}}, "anthropic")["user_id"]
    other = read_conventions({"metadata": {"user_id": user_id[:-1] + "3"}},
                             "anthropic")["user_id"]
    assert first == again != other and len(first) <= 128
    assert parse_hints({"user_id": first}, None).program_id == first
    key = "k" * 128  # an id's length: kept as it is
    assert read_conventions({"prompt_cache_key": key}, "openai") == {"prompt_cache_key": key}


def test_a_breakpoint_without_ttl_leaves_the_ttl_to_the_policy():
    body = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}]}]}
    assert read_conventions(body, "anthropic") == {}


@pytest.mark.parametrize("body, api, field", [
    ({"prompt_cache_key": 7}, "openai", "prompt_cache_key"),
    ({"prompt_cache_key": ""}, "openai", "prompt_cache_key"),
    ({"prompt_cache_key": "x" * 1025}, "openai", "prompt_cache_key"),
    ({"metadata": {"user_id": "a\tb"}}, "anthropic", "metadata.user_id"),
    ({"system": [{"cache_control": "5m"}]}, "anthropic", "system[0].cache_control"),
    ({"tools": [{"cache_control": {"type": "persistent"}}]}, "anthropic",
     "tools[0].cache_control.type"),
    ({"messages": [{"content": [{}, {"cache_control": {"type": "ephemeral", "ttl": "-1s"}}]}]},
     "anthropic", "messages[0].content[1].cache_control.ttl"),
])
def test_bad_values_name_the_body_field(body, api, field):
    with pytest.raises(HintError) as e:
        read_conventions(body, api)
    assert e.value.field == field
    assert f"invalid field {field!r}" in str(e.value)
    assert len(str(e.value)) < 300  # the value's echo is bounded


def test_precedence_of_program_ids():
    conv = {"prompt_cache_key": "pck"}
    assert parse_hints({**conv, "program_id": "p"}, "rk", "sid").source == "program_id"
    hints = parse_hints(conv, "rk", "sid")
    assert (hints.program_id, hints.source) == ("sid", "session_id")
    hints = parse_hints(conv, "rk")
    assert (hints.program_id, hints.source) == ("pck", "prompt_cache_key")
    hints = parse_hints({"user_id": "u"}, "rk")
    assert (hints.program_id, hints.source) == ("u", "metadata.user_id")
    hints = parse_hints({}, "rk")
    assert (hints.program_id, hints.source) == ("rk", "routing_key")
    assert parse_hints({}, None) is None


def test_a_convention_ttl_is_a_hint():
    found = read_conventions({"metadata": {"user_id": "u"}, "messages": [{"content": [
        {"cache_control": {"type": "ephemeral", "ttl": "30s"}}]}]}, "anthropic")
    assert parse_hints(found, None).ttl_s == 30.0
