"""The simulator's events. Priorities order events at equal times: a TTL's end and
arrivals land before the engine plans its next batch. Each event hands one call to the
simulator; the simulator and the engine hold the logic."""

from __future__ import annotations

from dataclasses import dataclass

from .engine import Batch
from .request import ProgramRun


@dataclass(eq=False)
class LockExpiry:
    """A TTL passes: wake an idle engine. Locks lapse in one place, the engine's next
    plan (Engine.plan), as the server lapses them at its next scheduler step."""

    priority: int = 0

    def fire(self, sim, now: float) -> None:
        sim.wake(now)


@dataclass(eq=False)
class ProgramArrival:
    """A program starts: its first turn arrives now."""

    run: ProgramRun
    priority: int = 1

    def fire(self, sim, now: float) -> None:
        self.run.arrival = now
        sim.submit_turn(self.run, now)


@dataclass(eq=False)
class TurnArrival:
    """The program's tool call returned: its next turn arrives now."""

    run: ProgramRun
    priority: int = 1

    def fire(self, sim, now: float) -> None:
        sim.submit_turn(self.run, now)


@dataclass(eq=False)
class EngineStep:
    """The engine's current batch ends now (``batch`` None: an idle engine wakes);
    apply its results, then plan and launch the next batch."""

    batch: Batch | None = None
    priority: int = 2

    def fire(self, sim, now: float) -> None:
        sim.step_end(self.batch, now)
