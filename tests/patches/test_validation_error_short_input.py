"""patches/0017: a 400 validation error quotes at most a short prefix of each offending
input. Without the patch the handler echoes every input whole, twice (a 10,000-character
field gives a message over 20,000 characters)."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sglang")

BIG = "r" * 10_000


def _handle(errors: list[dict], path: str = "/v1/chat/completions") -> dict:
    from fastapi.exceptions import RequestValidationError
    from starlette.requests import Request

    from sglang.srt.entrypoints.http_server import validation_exception_handler

    scope = {"type": "http", "method": "POST", "path": path, "root_path": "",
             "query_string": b"", "headers": [], "scheme": "http",
             "server": ("127.0.0.1", 80)}
    response = asyncio.run(validation_exception_handler(
        Request(scope), RequestValidationError(errors)))
    assert response.status_code == 400
    return json.loads(response.body)


def _error(value) -> dict:
    return {"type": "value_error", "loc": ("body", "messages", 0, "role"),
            "msg": "Value error, 'role' must be one of 'system', 'user'", "input": value}


@pytest.mark.parametrize("value", [BIG, [BIG], {"a": BIG}, [[[[[[[[1]]]]]]]] * 2_000],
                         ids=["string", "list", "object", "nested"])
def test_a_long_input_is_echoed_as_a_short_prefix(value):
    message = _handle([_error(value)])["message"]
    assert len(message) < 1_000, len(message)
    assert "'role' must be one of" in message  # the error itself is kept


def test_many_errors_each_quote_a_short_prefix():
    message = _handle([_error(BIG + str(i)) for i in range(20)])["message"]
    assert message.startswith("20 validation errors")
    assert len(message) < 20 * 2 * 400, len(message)


def test_a_short_input_is_unchanged():
    message = _handle([_error("robot")])["message"]
    assert "'input': 'robot'" in message
