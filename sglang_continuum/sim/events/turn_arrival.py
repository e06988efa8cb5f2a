from __future__ import annotations

from dataclasses import dataclass

from ..request import ProgramRun


@dataclass(eq=False)
class TurnArrival:
    """The program's tool call returned: its next turn arrives now."""

    run: ProgramRun
    priority: int = 1

    def fire(self, sim, now: float) -> None:
        sim.submit_turn(self.run, now)
