import math

import pytest

from sglang_continuum.core import HintError, ProgramHints, parse_hints, parse_ttl


def test_stock_requests_give_none():
    assert parse_hints(None, None) is None
    assert parse_hints({}, None) is None
    assert parse_hints({"last_turn": True, "other_feature": 1}, "") is None


def test_full_hints_and_unknown_keys_ignored():
    hints = parse_hints({"program_id": "p1", "last_turn": True, "tool": "bash",
                         "cache_control": {"type": "ephemeral", "ttl": "30s"},
                         "lora_thing": {"x": 1}}, "ignored")
    assert hints == ProgramHints("p1", True, "bash", 30.0)


def test_routing_key_fallback_and_defaults():
    assert parse_hints(None, "route-7") == ProgramHints("route-7", False, None, None)
    assert parse_hints({"cache_control": {"type": "ephemeral"}}, "r") == ProgramHints("r")


@pytest.mark.parametrize("value, seconds", [
    ("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("1.5s", 1.5),
    (" 30S ", 30.0), (".5s", 0.5), (2.5, 2.5), (0, 0.0), ("0s", 0.0),
])
def test_parse_ttl_accepts(value, seconds):
    assert parse_ttl(value) == seconds


BAD = [
    ("custom_params", "x", None),
    ("custom_params", ["program_id"], None),
    ("program_id", {"program_id": ""}, None),
    ("program_id", {"program_id": "x" * 129}, None),
    ("program_id", {"program_id": "a\nb"}, None),
    ("program_id", {"program_id": "a\x00"}, None),
    ("program_id", {"program_id": 5}, None),
    ("routing_key", {}, "bad\tkey"),
    ("routing_key", None, "y" * 200),
    ("last_turn", {"program_id": "p", "last_turn": "true"}, None),
    ("last_turn", {"program_id": "p", "last_turn": 1}, None),
    ("last_turn", {"program_id": "p", "last_turn": None}, None),
    ("tool", {"program_id": "p", "tool": ""}, None),
    ("tool", {"program_id": "p", "tool": "a b"}, None),
    ("tool", {"program_id": "p", "tool": "rm;ls"}, None),
    ("tool", {"program_id": "p", "tool": "x" * 65}, None),
    ("tool", {"program_id": "p", "tool": 3}, None),
    ("cache_control", {"program_id": "p", "cache_control": "30s"}, None),
    ("cache_control.type", {"program_id": "p", "cache_control": {"type": "persistent"}}, None),
    ("cache_control.type", {"program_id": "p", "cache_control": {"ttl": "30s"}}, None),
] + [
    ("cache_control.ttl", {"program_id": "p", "cache_control": {"type": "ephemeral", "ttl": t}},
     None)
    for t in ["30", "abc", "-5s", "1d", "", -1, -0.5, math.nan, math.inf, -math.inf, True,
              [30], {"s": 1}]
]


@pytest.mark.parametrize("field, params, routing_key", BAD)
def test_bad_hints_name_the_field(field, params, routing_key):
    with pytest.raises(HintError) as info:
        parse_hints(params, routing_key)
    assert info.value.field == field
    assert repr(field) in str(info.value) and "expected" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_session_id_is_a_program_id_between_program_id_and_routing_key():
    assert parse_hints(None, "route", "sess-1") == ProgramHints("sess-1")
    assert parse_hints({"program_id": "p"}, "route", "sess-1") == ProgramHints("p")
    assert parse_hints(None, "route", "") == ProgramHints("route")
    with pytest.raises(HintError, match="session_id"):
        parse_hints(None, None, "x" * 200)
