"""The fuzz draws extreme numbers into every numeric field, and judges an error that
echoes too much of its input a failure."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("hypothesis")

from sglang_continuum.fuzz import cases  # noqa: E402
from sglang_continuum.fuzz.send import FAILURES, MAX_ERROR_CHARS, encode, judge  # noqa: E402
from sglang_continuum.fuzz.values import Limits, RawJSON  # noqa: E402

NUMERIC = {"temperature", "top_p", "top_k", "min_p", "frequency_penalty", "presence_penalty",
           "repetition_penalty", "max_new_tokens", "min_new_tokens", "n", "stream_interval"}


def _extreme(value) -> bool:
    if isinstance(value, RawJSON):
        return True  # a literal that overflows a double or an int64
    if isinstance(value, str):
        return len(value) >= 400 or value.strip().lower().lstrip("-") in (
            "inf", "infinity", "nan", "1e400")
    if isinstance(value, float):
        return value != 0 and (abs(value) < 1e-300 or abs(value) > 3.4e38) \
            or str(value) == "-0.0"
    return False


def test_every_numeric_sampling_field_gets_extreme_values():
    drawn = cases.draw_cases(600, 1, Limits(), categories=["sampling"])
    seen: dict[str, set] = {}
    for c in drawn:
        if c.route != "/generate":
            continue
        for name, value in c.body.get("sampling_params", {}).items():
            if _extreme(value):
                seen.setdefault(name, set()).add(repr(value)[:20])
    missing = NUMERIC - set(seen)
    assert not missing, f"no extreme value drawn for {sorted(missing)}"


def test_ttls_include_long_digit_strings():
    from sglang_continuum.fuzz.structure import ttls

    drawn = cases.examples(ttls, 300, 2)
    assert any(isinstance(t, str) and len(t) > 400 and t[:400].isdigit() for t in drawn)


def test_raw_literals_are_sent_verbatim():
    body = encode({"sampling_params": {"top_k": RawJSON("9" * 400)}})
    assert b'"top_k": ' + b"9" * 400 in body
    with pytest.raises(ValueError):
        json.loads(body, parse_int=lambda s: int(s) if len(s) < 64 else _raise())


def _raise():
    raise ValueError("too long")


def test_an_error_echoing_the_request_is_a_failure():
    body = encode({"messages": [{"role": "r" * 10_000}]})
    echoed = '{"message": "1 validation error: input ' + "r" * 10_000 + '"}'
    assert judge(400, echoed, streamed=False, body=body) == "4xx-echo"
    assert "4xx-echo" in FAILURES
    # Short errors and long errors made of fixed text (many schema errors) are fine.
    assert judge(400, '{"error": "role: got \'rrrr...\'"}', False, body) == "4xx"
    many = '{"message": "' + "field x: input should be a string. " * 200 + '"}'
    assert len(many) > MAX_ERROR_CHARS
    assert judge(400, many, streamed=False, body=body) == "4xx"
