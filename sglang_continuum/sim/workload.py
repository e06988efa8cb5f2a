"""Programs the simulator runs: ``sglang_continuum.workload`` (shared with the replay),
plus the simulator's arrival process.

A ``ProgramSpec`` is ``workload.Program`` (``program_id``, ``turns``); a ``Turn`` has
``prompt`` (whole context), ``output``, ``tools`` (``.tool``: one name) and ``gap_s``.
"""

from __future__ import annotations

from dataclasses import replace

from ..workload import PRESETS, BUNDLED_TRACE, Scaling, Turn, generate, load_trace
from ..workload import Program as ProgramSpec
from ..workload.arrivals import poisson_arrivals

__all__ = ["BUNDLED_TRACE", "ProgramSpec", "Turn", "load_trace", "load_workload",
           "poisson_arrivals"]


def load_workload(name: str, programs: int | None, seed: int,
                  token_scale: float = 1.0, **overrides) -> list[ProgramSpec]:
    """``trace`` (shared trace, first ``programs``), or a synthetic preset (``swebench``,
    ``bfcl``; default 300 programs) whose ``SyntheticSpec`` fields ``overrides`` replace."""
    if name == "trace":
        progs = load_trace(BUNDLED_TRACE, limit=programs)
    elif name in PRESETS:
        spec = replace(PRESETS[name], **overrides) if overrides else PRESETS[name]
        progs = generate(spec, programs or 300, seed, prefix=name)
    else:
        raise ValueError(f"unknown workload {name!r}: use trace or {', '.join(PRESETS)}")
    return Scaling(token_scale=token_scale).apply(progs) if token_scale != 1.0 else progs
