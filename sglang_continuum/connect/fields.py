"""The overlay's per-request fields, built and checked on the client side.

Every way of connecting an agent (frontend language, OpenAI SDK, router) sends the
same dict in SGLang's ``custom_params``; it is checked here with the parser the server
uses, so a bad value fails in the agent with the server's message, not as an HTTP 400.
"""

from __future__ import annotations

from sglang_continuum.core.hints import parse_hints

# The header sglang-router's ``manual`` policy pins on, and SGLang's OpenAI routes read
# as the routing key (the overlay's program-id fallback).
ROUTING_HEADER = "X-SMG-Routing-Key"

Ttl = str | float | int | None


def custom_params(program_id: str, *, last_turn: bool = False, tool: str | None = None,
                  ttl: Ttl = None) -> dict:
    """``custom_params`` of one call of a program.

    ``ttl`` ("30s", "500ms", "5m" or seconds) asks the server to keep this call's KV
    cache locked that long for the next call; None lets the server's policy choose.
    ``tool`` names the tool this call's output will invoke (a hint; the server otherwise
    detects it from the output text). Raises ``HintError`` (a ``ValueError``) naming
    the bad field.
    """
    fields: dict = {"program_id": program_id, "last_turn": last_turn}
    if tool is not None:
        fields["tool"] = tool
    if ttl is not None:
        fields["cache_control"] = {"type": "ephemeral", "ttl": ttl}
    parse_hints(fields, None)
    return fields


def routing_headers(program_id: str) -> dict[str, str]:
    """HTTP headers that keep every call of a program on one server behind sglang-router."""
    return {ROUTING_HEADER: program_id}
