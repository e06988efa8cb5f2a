"""Shrinking a workload to what a small model on a small machine can replay.

Token counts (prompts and outputs) are multiplied by ``token_scale``, tool gaps by
``time_scale``, then capped (``output_cap``, ``max_gap_s``); programs are cut to their
first ``max_turns`` turns (the last kept turn becomes the program's last: gap 0) and the
first ``programs`` programs are kept. Every replay and simulator report prints
:meth:`Scaling.describe` with its numbers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .program import Program, Turn


@dataclass(frozen=True)
class Scaling:
    token_scale: float = 1.0
    time_scale: float = 1.0
    max_turns: int | None = None
    output_cap: int | None = None
    max_gap_s: float | None = None
    programs: int | None = None

    def __post_init__(self):
        for name in ("token_scale", "time_scale"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"Scaling.{name}={v!r}: expected a finite number > 0")
        for name in ("max_turns", "output_cap", "programs"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ValueError(f"Scaling.{name}={v!r}: expected None or an int >= 1")
        v = self.max_gap_s
        if v is not None and (not isinstance(v, (int, float)) or math.isnan(v) or v < 0):
            raise ValueError(f"Scaling.max_gap_s={v!r}: expected None or seconds >= 0")

    def turn(self, t: Turn, last: bool) -> Turn:
        out = max(1, round(t.output * self.token_scale))
        if self.output_cap is not None:
            out = min(out, self.output_cap)
        gap = 0.0 if last else t.gap_s * self.time_scale
        if self.max_gap_s is not None:
            gap = min(gap, self.max_gap_s)
        return Turn(max(1, round(t.prompt * self.token_scale)), out, t.tools, gap)

    def program(self, p: Program) -> Program:
        turns = p.turns[: self.max_turns] if self.max_turns else p.turns
        n = len(turns)
        return Program(p.program_id, tuple(self.turn(t, i == n - 1) for i, t in enumerate(turns)))

    def apply(self, programs: list[Program]) -> list[Program]:
        kept = programs[: self.programs] if self.programs else programs
        return [self.program(p) for p in kept]

    def describe(self) -> dict:
        return asdict(self)
