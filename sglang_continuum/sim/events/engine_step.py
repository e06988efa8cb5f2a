from __future__ import annotations

from dataclasses import dataclass

from ..engine import Batch


@dataclass(eq=False)
class EngineStep:
    """The engine's current batch ends now (``batch`` None: an idle engine wakes);
    apply its results, then plan and launch the next batch."""

    batch: Batch | None = None
    priority: int = 2

    def fire(self, sim, now: float) -> None:
        sim.step_end(self.batch, now)
