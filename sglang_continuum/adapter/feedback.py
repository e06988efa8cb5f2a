"""Per-request feedback: what the overlay did with a request, in its response.

A finished request's ``meta_info["continuum"]`` (``/generate``; ``metadata.continuum``
on a non-streaming ``/v1/chat/completions`` response) is a one-element list holding::

    {"program": "<id, at most 32 characters>" or None,
     "keyed_by": "program_id" | "session_id" | "prompt_cache_key" | "metadata.user_id"
                 | "routing_key" | "inferred" | None,
     "lock_hit": true when the request consumed its program's TTL lock,
     "lock": {"ttl_s": seconds, "tokens": context tokens} or None (the lock set after it),
     "decision": where the TTL came from, or why there is none}

It rides SGLang's own per-request channel, ``Req.customized_info``, which the scheduler's
output streamer sends to the tokenizer manager and which lands in ``meta_info``. A
request-level key is sent once, with a non-streaming request's final output (and a
streaming request's first chunk, before anything is known: streamed responses carry none).
"""

from __future__ import annotations

from typing import Optional

KEY = "continuum"
ID_CHARS = 32  # an id comes back at most this long: the client's own, bounded

_STREAMER = "sglang.srt.managers.scheduler_components.output_streamer.SchedulerOutputStreamer"
_CHAT = "sglang.srt.entrypoints.openai.serving_chat.OpenAIServingChat"


def report(program_id: Optional[str], keyed_by: Optional[str], lock_hit: bool,
           ttl_s: float, locked_tokens: int, reason: Optional[str]) -> dict:
    """The feedback of one finished request (``locked_tokens`` 0: no lock was set)."""
    return {
        "program": None if program_id is None else program_id[:ID_CHARS],
        "keyed_by": keyed_by,
        "lock_hit": lock_hit,
        "lock": {"ttl_s": round(ttl_s, 3), "tokens": locked_tokens} if locked_tokens else None,
        "decision": reason,
    }


def attach(req, value: dict) -> None:
    """Send ``value`` with the request's output (SGLang's per-request customized_info)."""
    info = getattr(req, "customized_info", None)
    if info is None:
        info = {}
        req.customized_info = info
    info[KEY] = [value]


def after_is_request_level_key(result, self, key, *args, **kwargs):
    """Our key is sent once per request, not sliced per output token."""
    return True if key == KEY else None


def after_build_chat_response(result, self, request, ret, *args, **kwargs):
    """Copy the feedback into a chat completion's ``metadata`` (meta_info stays internal
    on the OpenAI routes)."""
    try:
        value = ret[0]["meta_info"].get(KEY)
    except (IndexError, KeyError, TypeError, AttributeError):
        return None
    if value is not None and hasattr(result, "metadata"):
        result.metadata = {**(result.metadata or {}), KEY: value}
    return None


HOOKS = (
    (f"{_STREAMER}.is_request_level_customized_info_key", after_is_request_level_key,
     "AFTER"),
    (f"{_CHAT}._build_chat_response", after_build_chat_response, "AFTER"),
)
