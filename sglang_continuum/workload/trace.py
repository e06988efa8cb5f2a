"""Loader of the agent-trace schema (``data/README.md`` beside this file).

One JSON object per line: ``{"job_id": str, "turns": [{"in": int, "out": int,
"tools": [str], "gap_s": float | null, ...}, ...], ...}``. Unknown keys are ignored;
every violation raises :class:`TraceError` naming the file, line and field.
"""

from __future__ import annotations

import gzip
import io
import json
import math
from importlib import resources
from pathlib import Path

from .program import Program, Turn

# Shipped with the package (gzip): 299 Claude Code sessions on SWE-bench tasks.
BUNDLED_TRACE = resources.files(__package__) / "data" / "swecontextbench_claudecode.jsonl.gz"


class TraceError(ValueError):
    """A schema violation: ``.line`` (1-based) and ``.field`` (e.g. ``turns[3].in``)."""

    def __init__(self, path, line: int, field: str, message: str):
        super().__init__(f"{path}:{line}: field {field!r}: {message}")
        self.path, self.line, self.field = str(path), line, field


def _int(turn: dict, key: str, low: int, where: str, err) -> int:
    v = turn.get(key)
    if v is None:
        raise err(where, "missing (expected an integer)")
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise err(where, f"expected an integer >= {low}, got {v!r}")
    return v


def _turn(raw, i: int, err) -> Turn:
    where = f"turns[{i}]"
    if not isinstance(raw, dict):
        raise err(where, f"expected an object, got {type(raw).__name__}")
    prompt = _int(raw, "in", 1, f"{where}.in", err)
    output = _int(raw, "out", 0, f"{where}.out", err)
    if "cached" in raw and raw["cached"] is not None:
        cached = _int(raw, "cached", 0, f"{where}.cached", err)
        if cached > prompt:
            raise err(f"{where}.cached", f"{cached} exceeds the prompt ({prompt})")
    tools = raw.get("tools", [])
    if tools is None:
        tools = []
    if not isinstance(tools, list) or not all(isinstance(t, str) and t for t in tools):
        raise err(f"{where}.tools", f"expected a list of non-empty strings, got {tools!r}")
    gap = raw.get("gap_s")
    if gap is None:
        gap = 0.0
    elif isinstance(gap, bool) or not isinstance(gap, (int, float)) \
            or not math.isfinite(gap) or gap < 0:
        raise err(f"{where}.gap_s", f"expected seconds >= 0 or null, got {gap!r}")
    # out 0 (an empty reply) still costs one decode step
    return Turn(prompt, max(1, output), tuple(tools), float(gap))


def parse_line(text: str, line: int, path="<trace>") -> Program:
    """One trace line -> :class:`Program` (the last turn's gap forced to 0)."""

    def err(field, message):
        return TraceError(path, line, field, message)

    try:
        row = json.loads(text)
    except json.JSONDecodeError as e:
        raise err("<line>", f"not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(row, dict):
        raise err("<line>", f"expected a JSON object, got {type(row).__name__}")
    job = row.get("job_id")
    if isinstance(job, bool) or not isinstance(job, (str, int)) or job == "":
        raise err("job_id", f"expected a non-empty string, got {job!r}")
    raw_turns = row.get("turns")
    if not isinstance(raw_turns, list) or not raw_turns:
        raise err("turns", f"expected a non-empty list, got {raw_turns!r}")
    turns = [_turn(t, i, err) for i, t in enumerate(raw_turns)]
    last = turns[-1]
    turns[-1] = Turn(last.prompt, last.output, last.tools, 0.0)
    return Program(str(job), tuple(turns))


def _open_text(path):
    """A trace file as text lines; ``.gz`` is decompressed. ``path`` may be a str, a
    Path or an importlib.resources Traversable (the bundled trace)."""
    if isinstance(path, str):
        path = Path(path)
    raw = path.open("rb")
    if path.name.endswith(".gz"):
        raw = gzip.GzipFile(fileobj=raw)
    return io.TextIOWrapper(raw, encoding="utf-8")


def load_trace(path=BUNDLED_TRACE, limit: int | None = None) -> list[Program]:
    """Programs of a trace file in file order (the first ``limit``); blank lines skipped.

    Duplicate ``job_id`` values are an error (they key the programs on the server).
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit={limit!r}: expected None or an int >= 1")
    out: list[Program] = []
    seen: dict[str, int] = {}
    with _open_text(path) as f:
        for line_no, text in enumerate(f, start=1):
            if limit is not None and len(out) >= limit:
                break
            if not text.strip():
                continue
            prog = parse_line(text, line_no, path)
            if prog.program_id in seen:
                raise TraceError(path, line_no, "job_id",
                                 f"duplicate {prog.program_id!r} (first on line "
                                 f"{seen[prog.program_id]})")
            seen[prog.program_id] = line_no
            out.append(prog)
    return out
