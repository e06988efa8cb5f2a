from __future__ import annotations

from dataclasses import dataclass

from ..request import ProgramRun


@dataclass(eq=False)
class ProgramArrival:
    """A program starts: its first turn arrives now."""

    run: ProgramRun
    priority: int = 1

    def fire(self, sim, now: float) -> None:
        self.run.arrival = now
        sim.submit_turn(self.run, now)
