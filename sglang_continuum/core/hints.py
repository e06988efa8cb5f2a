"""Client hints carried in SGLang's per-request `custom_params`, validated at the edge."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .inference import TOOL_NAME

_TTL_TEXT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_TTL_ACCEPTED = ("a duration string such as '500ms', '30s', '5m' or '1h', "
                 "or a finite number of seconds >= 0")
# An error message quotes at most this many characters of the client's value: a
# 100 KB hint must not come back (and into the server's log) whole.
ECHO_CHARS = 32


class HintError(ValueError):
    """A request hint is malformed. `field` names it; the message says what is accepted."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"invalid custom_params field {field!r}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ProgramHints:
    program_id: str
    last_turn: bool = False
    tool: str | None = None
    ttl_s: float | None = None  # None: the server's policy decides


def parse_hints(custom_params: dict | None, routing_key: str | None,
                session_id: str | None = None) -> ProgramHints | None:
    """The overlay's hints of one request; None for a request with no program id (the
    adapter may then infer one, see inference.py).

    `program_id` falls back to SGLang's top-level `session_id`, then to `routing_key`.
    Unknown keys are ignored: they may belong to other SGLang features.
    """
    if custom_params is None:
        custom_params = {}
    elif not isinstance(custom_params, dict):
        raise HintError("custom_params", f"expected an object, got {_kind(custom_params)}")
    if custom_params.get("program_id") is not None:
        program_id = _program_id(custom_params["program_id"], "program_id")
    elif session_id is not None and session_id != "":
        program_id = _program_id(session_id, "session_id")
    elif routing_key is not None and routing_key != "":
        program_id = _program_id(routing_key, "routing_key")
    else:
        return None
    last_turn = custom_params.get("last_turn", False)
    if not isinstance(last_turn, bool):
        raise HintError("last_turn", f"expected true or false, got {_kind(last_turn)}")
    tool = custom_params.get("tool")
    if tool is not None and not (isinstance(tool, str) and TOOL_NAME.fullmatch(tool)):
        raise HintError("tool", "expected a string of 1 to 64 characters from "
                        f"[A-Za-z0-9_.:/-], got {_kind(tool)}")
    return ProgramHints(program_id, last_turn, tool,
                        _cache_control_ttl(custom_params.get("cache_control")))


def parse_ttl(value: Any, field: str = "cache_control.ttl") -> float:
    """Seconds of a TTL given as '500ms', '30s', '5m', '1h' or a number of seconds."""
    if isinstance(value, bool):
        raise HintError(field, f"expected {_TTL_ACCEPTED}, got a boolean")
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:  # an int above the largest double (Engine API, not JSON)
            seconds = math.inf
    elif isinstance(value, str):
        match = _TTL_TEXT.fullmatch(value.strip().lower())
        if match is None:
            raise HintError(field, f"expected {_TTL_ACCEPTED}, got {_kind(value)}")
        # float() of a long digit string is inf, not an error: caught below.
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise HintError(field, f"expected {_TTL_ACCEPTED}, got {_kind(value)}")
    if not math.isfinite(seconds) or seconds < 0:
        raise HintError(field, f"expected {_TTL_ACCEPTED}, got {_kind(value)}")
    return seconds


def _program_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.isprintable():
        raise HintError(field, "expected a string of 1 to 128 printable characters "
                        f"(no control characters), got {_kind(value)}")
    return value


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
