"""patches/0007: a chat request body that is not a JSON object, a non-object
response_format and a non-object json_schema "schema" are validation errors (HTTP 400),
not AttributeErrors inside a pydantic validator (HTTP 500)."""

from __future__ import annotations

import pytest

pytest.importorskip("sglang")

MESSAGES = [{"role": "user", "content": "hi"}]


def _validate(body):
    from sglang.srt.entrypoints.openai.protocol import ChatCompletionRequest

    return ChatCompletionRequest.model_validate(body)


@pytest.mark.parametrize("body,message", [
    ("hello", "the request body must be a JSON object, got str"),
    (None, "the request body must be a JSON object, got NoneType"),
    ([], "the request body must be a JSON object, got list"),
    (5, "the request body must be a JSON object, got int"),
    ({"model": "m", "messages": MESSAGES, "response_format": "json"}, "response_format"),
    ({"model": "m", "messages": MESSAGES, "response_format": [1]}, "response_format"),
    ({"model": "m", "messages": MESSAGES,
      "response_format": {"type": "json_schema", "schema": "x"}},
     "response_format.schema must be a JSON Schema object, got str"),
])
def test_malformed_chat_request_is_a_validation_error(body, message):
    import pydantic

    with pytest.raises(pydantic.ValidationError) as err:
        _validate(body)
    assert message in str(err.value)


def test_json_schema_shorthand_still_works():
    req = _validate({"model": "m", "messages": MESSAGES,
                     "response_format": {"type": "json_schema", "schema": {"type": "object"}}})
    assert req.response_format.json_schema.schema_ == {"type": "object"}
