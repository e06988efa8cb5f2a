"""The HTTP edge: program identity and TTL hints from the conventions clients already
send, which SGLang 0.5.23's protocol models drop (OpenAI ``prompt_cache_key``) or do not
forward (Anthropic ``metadata.user_id``, block-level ``cache_control``).

FastAPI parsed the JSON body before the route ran and Starlette keeps it on the raw
request, so the hooks read the field there (``core/hints.read_conventions`` decides) and
carry it where the overlay's fields already travel: ``custom_params`` on the chat,
completions and messages routes (the messages route converts through the chat route's
``_convert_to_internal_request``); SGLang's top-level ``session_id`` on ``/v1/responses``,
whose request has no ``custom_params``. A malformed value is a ``ValueError``, which each
route answers with HTTP 400 naming the field.
"""

from __future__ import annotations

import importlib.util
import json
import logging

from sglang_continuum.core import HintError, read_conventions

logger = logging.getLogger(__name__)

_OPENAI = "sglang.srt.entrypoints.openai"
CHAT = f"{_OPENAI}.serving_chat.OpenAIServingChat"
COMPLETION = f"{_OPENAI}.serving_completions.OpenAIServingCompletion"
RESPONSES = f"{_OPENAI}.serving_responses.OpenAIServingResponses"


def _server_args(serving):
    return getattr(getattr(serving, "tokenizer_manager", None), "server_args", None)


def _active(serving) -> bool:
    return getattr(_server_args(serving), "radix_cache_backend", None) == "continuum"


def raw_body(raw_request):
    """The request's JSON body as FastAPI parsed it (None when it is not at hand)."""
    body = getattr(raw_request, "_json", None)
    if body is not None:
        return body
    data = getattr(raw_request, "_body", None)
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def api_of(raw_request) -> str:
    path = getattr(getattr(raw_request, "url", None), "path", "") or ""
    return "anthropic" if path.rstrip("/").endswith("/v1/messages") else "openai"


def merge_conventions(sampling_params, found: dict):
    """``sampling_params`` (a dict, a list of them, or None) with ``found`` added to each
    ``custom_params``; what the client put in ``custom_params`` itself wins."""
    if sampling_params is None:
        return {"custom_params": dict(found)}
    for sp in sampling_params if isinstance(sampling_params, list) else [sampling_params]:
        if not isinstance(sp, dict):
            continue
        custom = sp.get("custom_params")
        if custom is None:
            sp["custom_params"] = dict(found)
        elif isinstance(custom, dict):  # anything else is rejected by the edge check
            sp["custom_params"] = {**found, **custom}
    return sampling_params


def after_convert_request(result, self, request, raw_request=None, *args, **kwargs):
    """Chat, completions and (through chat) messages: the body's conventions into
    ``custom_params``."""
    if raw_request is None or not _active(self):
        return None
    found = read_conventions(raw_body(raw_request), api_of(raw_request))
    if found:
        adapted = result[0]
        adapted.sampling_params = merge_conventions(adapted.sampling_params, found)
    return None


async def around_create_responses(original, self, request, raw_request=None, *args, **kwargs):
    """/v1/responses: a ``prompt_cache_key`` (else the ``X-SMG-Routing-Key`` header) keys
    the program through ``session_id`` when the client sent none. With SGLang's
    radix-native sessions on, ``session_id`` names a radix session: left alone."""
    if raw_request is not None and _active(self) and not getattr(request, "session_id", None) \
            and not getattr(_server_args(self), "enable_session_radix_cache", False):
        try:
            found = read_conventions(raw_body(raw_request), "openai")
        except HintError as e:
            return self.create_error_response(str(e), param=e.field)
        key = found.get("prompt_cache_key") or raw_request.headers.get("x-smg-routing-key")
        if key:
            request.session_id = key
    return await original(self, request, raw_request, *args, **kwargs)


# (target, hook, hook type name), added to hooks.HOOKS.
HOOKS = (
    (f"{CHAT}._convert_to_internal_request", after_convert_request, "AFTER"),
    (f"{COMPLETION}._convert_to_internal_request", after_convert_request, "AFTER"),
)


def optional_hooks() -> tuple:
    """The /v1/responses hook, where SGLang serves that route: its module needs
    ``openai_harmony``, without which SGLang starts with the route disabled."""
    if importlib.util.find_spec("openai_harmony") is None:
        return ()
    return ((f"{RESPONSES}.create_responses", around_create_responses, "AROUND"),)
