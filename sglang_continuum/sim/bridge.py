"""The simulator's adapter: simulator state -> ContinuumPolicy calls, as the SGLang
adapter translates scheduler state (arrival, admission, finish, expiry, pressure).

Lock handles are program indices; the cache is told to lock/unlock them.
"""

from __future__ import annotations

from typing import Callable

from ..core import LockDecision
from .cache import PrefixCache
from .policies import SimPolicy
from .request import ProgramRun, Request


class CoreBridge:
    def __init__(self, policy: SimPolicy, cache: PrefixCache,
                 on_lock: Callable[[float], None] = lambda expires_at: None):
        self.policy = policy
        self.core = policy.core
        self.cache = cache
        self._on_lock = on_lock
        self._locked: dict[int, ProgramRun] = {}  # lock order = insertion order
        self.forced_drops = 0

    def arrival(self, req: Request, now: float) -> None:
        self.core.on_arrival(req.program.key, now)

    def admitted(self, req: Request, now: float, hit: int) -> None:
        run = req.program
        self._unlock(self.core.on_admitted(run.key, now))
        if req.turn > 0 and not req.preempted and hit < run.context_at_finish:
            self.core.record_queue_delay(now - req.arrival)

    def finished(self, req: Request, now: float) -> LockDecision:
        run = req.program
        turn = run.spec.turns[req.turn]
        last = req.turn == len(run.spec.turns) - 1
        tokens = self.cache.cached(run.index)
        decision = self.core.on_finish(run.key, now, tokens, turn.tool, last,
                                       None if last else self.policy.ttl_hint(req, now))
        if decision.ttl_s > 0:
            previous = self.core.set_lock(run.key, now, decision.ttl_s, tokens, run.index)
            if previous is not None and previous != run.index:
                self._unlock(previous)
            self.cache.lock(run.index)
            self._locked[run.index] = run
            self._on_lock(now + decision.ttl_s)
        return decision

    def expire(self, now: float) -> int:
        lapsed = self.core.expired(now)
        for _, handle in lapsed:
            self._unlock(handle)
        return len(lapsed)

    def relieve(self, head: Request | None = None, engine_idle: bool = True) -> bool:
        """Release one lock for memory pressure, if the policy allows it and one exists
        (for a waiting `head`, the core decides which locks may give way to it)."""
        if not self.policy.pressure_release:
            return False
        if head is None:
            released = self.core.release_for_pressure()
        else:
            released = self.core.release_for_pressure(head.program.key, head.arrival,
                                                      engine_idle)
        if released is None:
            return False
        self._unlock(released[1])
        return True

    def force_drop(self) -> bool:
        """Deadlock breaker for policies that may not release: drop the oldest lock of a
        program with no waiting turn (else the oldest lock); False if none is held."""
        if not self._locked:
            return False
        victim = next((r for r in self._locked.values() if not r.waiting),
                      next(iter(self._locked.values())))
        handle = self.core.drop(victim.key)
        self._unlock(handle if handle is not None else victim.index)
        self.forced_drops += 1
        return True

    def abort(self, run: ProgramRun) -> None:
        self._unlock(self.core.drop(run.key))

    def _unlock(self, handle) -> None:
        if handle is not None:
            self.cache.unlock(handle)
            self._locked.pop(handle, None)
