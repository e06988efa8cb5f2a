"""Programs the simulator runs, and a minimal private loader for the shared trace.

``ProgramSpec``/``Turn`` are the simulator's own input types; :func:`load_workload`
builds them from the shared trace or a synthetic generator (``synthetic.py``).
Arrival times are the simulator's business (Poisson, :func:`poisson_arrivals`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

SHARED_TRACE = Path("/work/shared/traces/swecontextbench_claudecode.jsonl")


@dataclass(frozen=True, slots=True)
class Turn:
    prompt: int            # context tokens of the call (whole prompt)
    output: int            # tokens generated
    tool: str | None       # tool the output invokes (None: no tool)
    gap_s: float           # tool time before the next call (0 on the last turn)


@dataclass(frozen=True, slots=True)
class ProgramSpec:
    program_id: str
    turns: tuple[Turn, ...]

    def __post_init__(self):
        if not self.turns:
            raise ValueError(f"program {self.program_id!r} has no turns")


def tool_name(tools) -> str | None:
    """One name for the tool calls a turn issued (several: sorted, joined by '+')."""
    if not tools:
        return None
    return tools[0] if len(tools) == 1 else "+".join(sorted(set(tools)))


def load_trace(path: Path | str = SHARED_TRACE, limit: int | None = None,
               token_scale: float = 1.0) -> list[ProgramSpec]:
    """Programs of the shared trace schema (traces/README.md), in file order."""
    out: list[ProgramSpec] = []
    with open(path) as f:
        for line in f:
            if limit is not None and len(out) >= limit:
                break
            row = json.loads(line)
            turns = tuple(
                Turn(max(1, round(t["in"] * token_scale)), max(1, round(t["out"] * token_scale)),
                     tool_name(t.get("tools")), float(t.get("gap_s") or 0.0))
                for t in row["turns"])
            out.append(ProgramSpec(str(row["job_id"]), turns))
    return out


def poisson_arrivals(n: int, rate: float, seed: int) -> list[float]:
    """n arrival times of a Poisson process of ``rate`` programs/s starting at 0."""
    if rate <= 0:
        raise ValueError(f"rate={rate!r}: must be > 0 programs per second")
    rng = random.Random(f"arrivals:{seed}")
    t, times = 0.0, []
    for _ in range(n):
        times.append(t)
        t += rng.expovariate(rate)
    return times


def load_workload(name: str, programs: int | None, seed: int,
                  token_scale: float = 1.0, **overrides) -> list[ProgramSpec]:
    """``trace`` (shared trace, first ``programs``), ``swebench`` or ``bfcl`` (synthetic)."""
    from . import synthetic

    if name == "trace":
        return load_trace(limit=programs, token_scale=token_scale)
    if name in synthetic.STATS:
        return synthetic.generate(name, programs or 300, seed, **overrides)
    raise ValueError(f"unknown workload {name!r}: use trace, swebench or bfcl")
