"""One entry point from a workload name to scaled programs (used by the CLIs)."""

from __future__ import annotations

from pathlib import Path

from .program import Program
from .scaling import Scaling
from .synthetic import PRESETS, generate
from .trace import BUNDLED_TRACE, load_trace

DEFAULT_SYNTHETIC_PROGRAMS = 100


def load(source: str, seed: int = 0, scaling: Scaling = Scaling()) -> list[Program]:
    """``trace`` (the shared trace), a path to a trace ``.jsonl``, or a preset name
    (``swebench``, ``bfcl``); then ``scaling`` applied (its ``programs`` picks the first N;
    synthetic without it: 100)."""
    if source in PRESETS:
        n = scaling.programs or DEFAULT_SYNTHETIC_PROGRAMS
        return scaling.apply(generate(source, n, seed))
    path = BUNDLED_TRACE if source == "trace" else Path(source)
    if not path.is_file():
        raise ValueError(f"workload {source!r}: not a preset ({', '.join(PRESETS)}), "
                         f"'trace', or an existing trace file")
    return scaling.apply(load_trace(path, limit=scaling.programs))
