"""Hostile hint values: out-of-range numbers are a HintError naming the field (never an
OverflowError, never inf), and no error message quotes more than ECHO_CHARS characters
of the client's value."""

from __future__ import annotations

import pytest

from sglang_continuum.core import HintError, parse_hints, parse_ttl
from sglang_continuum.core.hints import ECHO_CHARS

FIELD = "cache_control.ttl"

OUT_OF_RANGE = [
    pytest.param("9" * 400 + "s", id="400-digit-string"),
    pytest.param("9" * 100_000 + "ms", id="100k-digit-string"),
    pytest.param("9" * 310 + "." + "9" * 50 + "h", id="long-decimal-string"),
    pytest.param("9" * 306 + "h", id="finite-times-unit-overflows"),
    pytest.param(10**309, id="int-above-1e308"),
    pytest.param(-(10**309), id="negative-int-below-minus-1e308"),
    pytest.param(10**5000, id="int-of-5000-digits"),
    pytest.param(float("inf"), id="inf"),
    pytest.param(float("nan"), id="nan"),
    pytest.param(-5e-324, id="negative-denormal"),
]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_out_of_range_ttl_is_a_hint_error_naming_the_field(value):
    with pytest.raises(HintError) as err:
        parse_ttl(value)
    assert err.value.field == FIELD
    assert repr(FIELD) in str(err.value) and "'30s'" in str(err.value)


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_the_request_path_raises_only_hint_errors(value):
    """What the scheduler catches (``except HintError``) is all that escapes."""
    with pytest.raises(HintError):
        parse_hints({"program_id": "p", "cache_control": {"type": "ephemeral",
                                                          "ttl": value}}, None)


def _echo_budget(field: str) -> int:
    """The longest message a rejected value may give: the fixed text (measured on a
    one-character value every field refuses) plus ECHO_CHARS of the value and the
    ellipsis."""
    return len(str(_error(field, "\n"))) + ECHO_CHARS + len("...")


def _error(field: str, value) -> HintError:
    params = {"program_id": "p", "cache_control": {"type": "ephemeral", "ttl": "1s"}}
    if field == "cache_control.ttl":
        params["cache_control"]["ttl"] = value
    elif field == "cache_control.type":
        params["cache_control"]["type"] = value
    else:
        params[field] = value
    with pytest.raises(HintError) as err:
        parse_hints(params, None)
    return err.value


@pytest.mark.parametrize("field", ["program_id", "tool", "last_turn", "cache_control.ttl",
                                   "cache_control.type"])
@pytest.mark.parametrize("value", [
    pytest.param("9" * 400 + "s", id="400-digits"),
    pytest.param("\u00e9" * 100_000, id="100k-chars"),
    pytest.param(" " * 50_000 + "x", id="spaces"),
    pytest.param(10**5000, id="huge-int"),
])
def test_error_messages_echo_a_bounded_prefix(field, value):
    message = str(_error(field, value))
    assert len(message) <= _echo_budget(field), message


def test_huge_ints_are_named_not_printed():
    message = str(_error("cache_control.ttl", 10**5000))
    assert "integer" in message and "9999" not in message and len(message) < 300
