"""Which tool a model output calls: OpenAI-style tool calls, else one ```bash block."""

from __future__ import annotations

import json
import re

TOOL_NAME = re.compile(r"[A-Za-z0-9_.:/-]{1,64}")
_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
_OBJECT_START = re.compile(r"\{\s*\"")
_NAME_FIELD = re.compile(r"\"name\"\s*:\s*\"([^\"]{1,64})\"")
_SHELL_BLOCK = re.compile(r"```(?:bash|sh)[ \t]*\n(.*?)```", re.DOTALL)
_MAX_DECODE_ATTEMPTS = 64  # bounds the work on outputs full of braces
_DECODER = json.JSONDecoder()


def detect_tool(text: str) -> str | None:
    """The first tool the output calls, or None.

    1. A JSON tool call: inside `<tool_call>...</tool_call>` (the closing tag may be cut
       off by a stop string), or anywhere as {"type": "function", "function": {"name":
       ...}}, {"name": ..., "arguments": ...} or {"tool_calls": [...]}.
    2. Else, when the output holds exactly one fenced ```bash (or ```sh) block, the first
       word of its first non-empty line.
    Names must match [A-Za-z0-9_.:/-]{1,64}.
    """
    if not text:
        return None
    for block in _TOOL_CALL.findall(text):
        name = _first_json_name(block, require_arguments=False)
        if name is None:
            match = _NAME_FIELD.search(block)
            name = _valid(match.group(1)) if match else None
        if name is not None:
            return name
    name = _first_json_name(text, require_arguments=True)
    if name is not None:
        return name
    blocks = _SHELL_BLOCK.findall(text)
    if len(blocks) != 1:
        return None
    for line in blocks[0].splitlines():
        words = line.split()
        if words:
            return _valid(words[0])
    return None


def _first_json_name(text: str, require_arguments: bool) -> str | None:
    pos, attempts = 0, 0
    while attempts < _MAX_DECODE_ATTEMPTS:
        match = _OBJECT_START.search(text, pos)
        if match is None:
            return None
        attempts += 1
        try:
            obj, end = _DECODER.raw_decode(text, match.start())
        except ValueError:
            pos = match.start() + 1
            continue
        name = _call_name(obj, require_arguments)
        if name is not None:
            return name
        pos = end
    return None


def _call_name(obj: object, require_arguments: bool) -> str | None:
    if isinstance(obj, list):
        return _call_name(obj[0], require_arguments) if obj else None
    if not isinstance(obj, dict):
        return None
    function = obj.get("function")
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return _valid(function["name"])
    calls = obj.get("tool_calls")
    if isinstance(calls, list) and calls:
        return _call_name(calls[0], require_arguments=False)
    name = obj.get("name")
    if isinstance(name, str) and (not require_arguments or "arguments" in obj
                                  or "parameters" in obj):
        return _valid(name)
    return None


def _valid(name: str) -> str | None:
    return name if TOOL_NAME.fullmatch(name) else None
