"""Client hints: the overlay's fields in SGLang's per-request `custom_params`, and the
conventions clients already send (OpenAI `prompt_cache_key`, Anthropic `metadata.user_id`
and block-level `cache_control`), validated at the edge."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field as dataclass_field
from typing import Any

from .inference import TOOL_NAME

_TTL_TEXT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_TTL_ACCEPTED = ("a duration string such as '500ms', '30s', '5m' or '1h', "
                 "or a finite number of seconds >= 0")
# An error message quotes at most this many characters of the client's value: a
# 100 KB hint must not come back (and into the server's log) whole.
ECHO_CHARS = 32


# A convention's key may be longer than a program id (Claude Code's metadata.user_id
# joins a user hash, an account and a session id): up to this many characters it is
# accepted and, past the id's 128, stands as a digest of itself.
CONVENTION_CHARS = 1024

# The keys the HTTP edge adds to `custom_params` for a convention the client sent in the
# request body, and the body field each one came from (what an error names).
CONVENTION_KEYS = {"prompt_cache_key": "prompt_cache_key", "user_id": "metadata.user_id"}


class HintError(ValueError):
    """A request hint is malformed. `field` names it; the message says what is accepted."""

    def __init__(self, field: str, message: str, where: str = "custom_params field") -> None:
        super().__init__(f"invalid {where} {field!r}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ProgramHints:
    program_id: str
    last_turn: bool = False
    tool: str | None = None
    ttl_s: float | None = None  # None: the server's policy decides
    # The field the program id came from ("program_id", "session_id", "prompt_cache_key",
    # "metadata.user_id", "routing_key"): reported back to the client, not part of identity.
    source: str = dataclass_field(default="program_id", compare=False)


def parse_hints(custom_params: dict | None, routing_key: str | None,
                session_id: str | None = None) -> ProgramHints | None:
    """The overlay's hints of one request; None for a request with no program id (the
    adapter may then infer one, see inference.py).

    The program id is the first of: `custom_params.program_id`, SGLang's top-level
    `session_id`, the client's `prompt_cache_key` or `metadata.user_id` (carried in
    `custom_params` by the HTTP edge, see `read_conventions`), the `routing_key` (body
    field or the `X-SMG-Routing-Key` header). Unknown keys are ignored: they may belong
    to other SGLang features.
    """
    if custom_params is None:
        custom_params = {}
    elif not isinstance(custom_params, dict):
        raise HintError("custom_params", f"expected an object, got {_kind(custom_params)}")
    candidates = [("session_id", session_id),
                  *((CONVENTION_KEYS[k], custom_params.get(k)) for k in CONVENTION_KEYS),
                  ("routing_key", routing_key)]
    if custom_params.get("program_id") is not None:  # an empty explicit id is an error
        source, value = "program_id", custom_params["program_id"]
    else:
        source, value = next(((f, v) for f, v in candidates if v is not None and v != ""),
                             (None, None))
        if source is None:
            return None
    program_id = _program_id(value, source)
    last_turn = custom_params.get("last_turn", False)
    if not isinstance(last_turn, bool):
        raise HintError("last_turn", f"expected true or false, got {_kind(last_turn)}")
    tool = custom_params.get("tool")
    if tool is not None and not (isinstance(tool, str) and TOOL_NAME.fullmatch(tool)):
        raise HintError("tool", "expected a string of 1 to 64 characters from "
                        f"[A-Za-z0-9_.:/-], got {_kind(tool)}")
    return ProgramHints(program_id, last_turn, tool,
                        _cache_control_ttl(custom_params.get("cache_control")), source)


def read_conventions(body: Any, api: str) -> dict:
    """The `custom_params` entries for the conventions a client's raw JSON body carries
    (`api`: "openai" for /v1/chat/completions, /v1/completions and /v1/responses,
    "anthropic" for /v1/messages); `{}` when there are none. Raises HintError naming
    the body field of a malformed value.

    OpenAI: `prompt_cache_key` (a per-conversation key, e.g. Codex's) keys the program.
    Anthropic: `metadata.user_id` keys the program; the `ttl` of the last block-level
    `cache_control` breakpoint (tools, then system, then messages: the prompt's order)
    is a TTL hint. A breakpoint without `ttl` leaves the TTL to the server's policy.
    """
    if not isinstance(body, dict):
        return {}
    found: dict = {}
    if api == "openai":
        if body.get("prompt_cache_key") is not None:
            found["prompt_cache_key"] = _convention_id(body["prompt_cache_key"],
                                                       "prompt_cache_key")
        return found
    if api != "anthropic":
        raise ValueError(f"api {api!r}: expected 'openai' or 'anthropic'")
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and metadata.get("user_id") is not None:
        found["user_id"] = _convention_id(metadata["user_id"], "metadata.user_id")
    ttl = None
    for path, block in _anthropic_blocks(body):
        control = block.get("cache_control")
        if control is None:
            continue
        where = f"{path}.cache_control"
        if not isinstance(control, dict):
            raise HintError(where, "expected an object like {\"type\": \"ephemeral\", "
                            f"\"ttl\": \"5m\"}}, got {_kind(control)}", where="field")
        if control.get("type") != "ephemeral":
            raise HintError(f"{where}.type", "expected \"ephemeral\", got "
                            f"{_kind(control.get('type'))}", where="field")
        if control.get("ttl") is not None:
            ttl = parse_ttl(control["ttl"], f"{where}.ttl", where="field")
    if ttl is not None:
        found["cache_control"] = {"type": "ephemeral", "ttl": ttl}
    return found


def _anthropic_blocks(body: dict):
    """(path, block) of every object that may carry `cache_control` in an Anthropic
    Messages body, in prompt order: tools, system blocks, message content blocks."""
    for i, tool in enumerate(_list(body.get("tools"))):
        if isinstance(tool, dict):
            yield f"tools[{i}]", tool
    for i, block in enumerate(_list(body.get("system"))):
        if isinstance(block, dict):
            yield f"system[{i}]", block
    for i, message in enumerate(_list(body.get("messages"))):
        content = message.get("content") if isinstance(message, dict) else None
        for j, block in enumerate(_list(content)):
            if isinstance(block, dict):
                yield f"messages[{i}].content[{j}]", block


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def parse_ttl(value: Any, field: str = "cache_control.ttl",
              where: str = "custom_params field") -> float:
    """Seconds of a TTL given as '500ms', '30s', '5m', '1h' or a number of seconds."""
    if isinstance(value, bool):
        raise HintError(field, f"expected {_TTL_ACCEPTED}, got a boolean", where)
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:  # an int above the largest double (Engine API, not JSON)
            seconds = math.inf
    elif isinstance(value, str):
        match = _TTL_TEXT.fullmatch(value.strip().lower())
        if match is None:
            raise HintError(field, f"expected {_TTL_ACCEPTED}, got {_kind(value)}", where)
        # float() of a long digit string is inf, not an error: caught below.
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise HintError(field, f"expected {_TTL_ACCEPTED}, got {_kind(value)}", where)
    if not math.isfinite(seconds) or seconds < 0:
        raise HintError(field, f"expected {_TTL_ACCEPTED}, got {_kind(value)}", where)
    return seconds


def _program_id(value: Any, field: str, where: str = "custom_params field") -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.isprintable():
        raise HintError(field, "expected a string of 1 to 128 printable characters "
                        f"(no control characters), got {_kind(value)}", where)
    return value


def _convention_id(value: Any, field: str) -> str:
    """A client's conversation key as a program id: itself up to 128 characters, a
    digest of itself up to CONVENTION_CHARS (stable: every turn maps to one program)."""
    if not isinstance(value, str) or not 1 <= len(value) <= CONVENTION_CHARS \
            or not value.isprintable():
        raise HintError(field, f"expected a string of 1 to {CONVENTION_CHARS} printable "
                        f"characters (no control characters), got {_kind(value)}", "field")
    if len(value) <= 128:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:40]


def _cache_control_ttl(value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise HintError("cache_control", "expected an object like "
                        f"{{\"type\": \"ephemeral\", \"ttl\": \"30s\"}}, got {_kind(value)}")
    if value.get("type") != "ephemeral":
        raise HintError("cache_control.type",
                        f"expected \"ephemeral\", got {_kind(value.get('type'))}")
    return parse_ttl(value["ttl"]) if value.get("ttl") is not None else None


def _kind(value: Any) -> str:
    """The client's value as an error message quotes it: at most ECHO_CHARS of it."""
    if isinstance(value, str):
        return repr(value[:ECHO_CHARS] + ("..." if len(value) > ECHO_CHARS else ""))
    if isinstance(value, int) and not isinstance(value, bool) \
            and value.bit_length() > 3.33 * ECHO_CHARS:
        # repr of a huge int is as long as its digits (and fails past 4300 digits)
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    return type(value).__name__
