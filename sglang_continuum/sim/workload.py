"""Programs the simulator runs: ``sglang_continuum.workload`` (shared with the replay),
plus the simulator's arrival process.

A ``ProgramSpec`` is ``workload.Program`` (``program_id``, ``turns``); a ``Turn`` has
``prompt`` (whole context), ``output``, ``tools`` (``.tool``: one name) and ``gap_s``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..workload import PRESETS, BUNDLED_TRACE, Scaling, Turn, generate, load_trace
from ..workload import Program as ProgramSpec
from ..workload.arrivals import poisson_arrivals

__all__ = ["BUNDLED_TRACE", "ProgramSpec", "Turn", "load_trace", "load_workload",
           "poisson_arrivals"]


def load_workload(name: str, programs: int | None, seed: int,
                  token_scale: float = 1.0, **overrides) -> list[ProgramSpec]:
    """``trace`` (shared trace, first ``programs``), a synthetic preset (``swebench``,
    ``bfcl``; default 300 programs) whose ``SyntheticSpec`` fields ``overrides`` replace,
    or the path of a trace file (``.jsonl`` or ``.jsonl.gz``, the replay's schema; first
    ``programs``). A malformed file raises ``TraceError`` naming its line and field."""
    if name == "trace":
        progs = load_trace(BUNDLED_TRACE, limit=programs)
    elif name in PRESETS:
        spec = replace(PRESETS[name], **overrides) if overrides else PRESETS[name]
        progs = generate(spec, programs or 300, seed, prefix=name)
    elif Path(name).is_file():
        if overrides:
            raise ValueError(f"workload {name!r}: overrides apply to synthetic presets only")
        progs = load_trace(Path(name), limit=programs)
    else:
        raise ValueError(f"workload {name!r}: not 'trace', a preset ({', '.join(PRESETS)}) "
                         "or an existing trace file")
    return Scaling(token_scale=token_scale).apply(progs) if token_scale != 1.0 else progs
