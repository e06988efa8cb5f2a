from __future__ import annotations

from dataclasses import dataclass


@dataclass(eq=False)
class LockExpiry:
    """A TTL passes: lapsed locks become ordinary evictable cache (core.expired)."""

    priority: int = 0

    def fire(self, sim, now: float) -> None:
        if sim.bridge.expire(now):
            sim.engine.dirty = True
            sim.wake(now)
