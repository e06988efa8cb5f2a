"""The HTTP edge hooks (adapter/edge.py) with fake SGLang serving objects: the
conventions read from the raw body land where the overlay reads program ids."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from sglang_continuum.adapter.edge import (after_convert_request, around_create_responses,
                                           merge_conventions, raw_body)
from sglang_continuum.core import HintError


def serving(backend="continuum", radix_sessions=False):
    args = SimpleNamespace(radix_cache_backend=backend,
                           enable_session_radix_cache=radix_sessions)
    return SimpleNamespace(tokenizer_manager=SimpleNamespace(server_args=args),
                           create_error_response=lambda msg, param=None: ("error", msg, param))


def raw(body, path="/v1/chat/completions", headers=None):
    return SimpleNamespace(_json=body, url=SimpleNamespace(path=path), headers=headers or {})


def convert(serv, body, path="/v1/chat/completions", custom=None):
    adapted = SimpleNamespace(sampling_params={"max_new_tokens": 4, "custom_params": custom})
    after_convert_request((adapted, None), serv, object(), raw(body, path))
    return adapted.sampling_params


def test_prompt_cache_key_lands_in_custom_params():
    sp = convert(serving(), {"prompt_cache_key": "conv-1"})
    assert sp == {"max_new_tokens": 4, "custom_params": {"prompt_cache_key": "conv-1"}}


def test_the_clients_own_custom_params_win():
    sp = convert(serving(), {"metadata": {"user_id": "u"}, "messages": [{"content": [
        {"cache_control": {"type": "ephemeral", "ttl": "5m"}}]}]}, path="/v1/messages",
        custom={"program_id": "p", "cache_control": {"type": "ephemeral", "ttl": "1s"}})
    assert sp["custom_params"] == {"user_id": "u", "program_id": "p",
                                   "cache_control": {"type": "ephemeral", "ttl": "1s"}}


def test_stock_server_and_plain_bodies_are_untouched():
    assert convert(serving("radix"), {"prompt_cache_key": "k"})["custom_params"] is None
    assert convert(serving(), {"model": "m"})["custom_params"] is None


def test_a_bad_value_is_a_value_error_naming_the_field():
    with pytest.raises(HintError, match="'prompt_cache_key'"):
        convert(serving(), {"prompt_cache_key": ["k"]})


def test_merge_handles_lists_and_none():
    assert merge_conventions(None, {"user_id": "u"}) == {"custom_params": {"user_id": "u"}}
    sps = merge_conventions([{"custom_params": {"tool": "ls"}}, {}], {"user_id": "u"})
    assert sps == [{"custom_params": {"user_id": "u", "tool": "ls"}},
                   {"custom_params": {"user_id": "u"}}]


def test_raw_body_falls_back_to_the_bytes():
    assert raw_body(SimpleNamespace(_body=b'{"prompt_cache_key": "k"}')) == \
        {"prompt_cache_key": "k"}
    assert raw_body(SimpleNamespace(_body=b"not json")) is None
    assert raw_body(SimpleNamespace()) is None


async def _original(self, request, raw_request=None):
    return ("served", request.session_id)


def responses(serv, body, session_id=None, headers=None):
    request = SimpleNamespace(session_id=session_id)
    return asyncio.run(around_create_responses(_original, serv, request,
                                               raw(body, "/v1/responses", headers)))


def test_responses_key_the_program_through_session_id():
    assert responses(serving(), {"prompt_cache_key": "k"}) == ("served", "k")
    assert responses(serving(), {}, headers={"x-smg-routing-key": "h"}) == ("served", "h")
    assert responses(serving(), {"prompt_cache_key": "k"}, session_id="s") == ("served", "s")
    assert responses(serving(radix_sessions=True), {"prompt_cache_key": "k"}) == \
        ("served", None)
    assert responses(serving("radix"), {"prompt_cache_key": "k"}) == ("served", None)


def test_responses_reject_a_bad_key_with_400():
    kind, message, param = responses(serving(), {"prompt_cache_key": 5})
    assert kind == "error" and "'prompt_cache_key'" in message and param == "prompt_cache_key"
