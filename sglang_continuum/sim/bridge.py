"""The simulator's adapter: simulator state -> the core's turn sequences
(``core.turns``), as the SGLang adapter translates scheduler state (arrival, admission,
finish, expiry, pressure).

Lock targets are programs; the prefix cache pins a program's prefix while it holds at
least one lock handle (as SGLang counts references on a tree node).
"""

from __future__ import annotations

import itertools
from typing import Callable

from ..core import LockDecision, ProgramInference, turns
from .cache import PrefixCache
from .policies import SimPolicy
from .request import ContextIds, ProgramRun, Request


class ProgramLocks:
    """``core.KvLocks`` over the prefix cache: each lock() is a new handle
    ``(program index, serial)``; the prefix stays locked until its last handle goes."""

    def __init__(self, cache: PrefixCache):
        self.cache = cache
        self._handles: dict[int, set] = {}
        self._serial = itertools.count()

    def lock(self, run: ProgramRun) -> tuple[int, int]:
        handle = (run.index, next(self._serial))
        if run.index not in self._handles:
            self._handles[run.index] = set()
            self.cache.lock(run.index)
        self._handles[run.index].add(handle)
        return handle

    def unlock(self, handle: tuple[int, int]) -> None:
        index = handle[0]
        live = self._handles.get(index)
        if live is None or handle not in live:
            raise RuntimeError(f"lock handle {handle} released twice or never given")
        live.discard(handle)
        if not live:
            del self._handles[index]
            self.cache.unlock(index)

    def path(self, run: ProgramRun) -> None:
        """``core.KvLocks.path``: programs share no prefix here; a lock pins its
        program's context alone."""
        return None

    def demote(self, handle: tuple[int, int]) -> tuple[int, int] | None:
        """``core.turns.HostTier.demote``: release, then move the program's prefix to
        the host tier unless another handle still holds it; the host handle keeps the
        copy from host eviction (a bounded host pool) until ``unhold``."""
        self.unlock(handle)
        index = handle[0]
        if index in self._handles or not self.cache.demote(index):
            return None
        self.cache.hold_host(index)
        return (index, next(self._serial))

    def unhold(self, host_handle: tuple[int, int]) -> None:
        """``core.turns.HostTier.unhold``: the host copy may be evicted again."""
        self.cache.unhold_host(host_handle[0])

    def host_free_tokens(self) -> float | None:
        """``core.turns.HostTier.host_free_tokens``: the host pool's free tokens."""
        return self.cache.host_free() if self.cache.host_tier else None

    def host_capacity_tokens(self) -> float | None:
        """``core.turns.HostTier.host_capacity_tokens``: what the two tiers hold
        together: the host pool plus the device pool under write-back (the host holds
        what the device evicted), the host pool alone under write-through (a mirror)."""
        if not self.cache.host_tier:
            return None
        return self.cache.host_capacity + (0 if self.cache.write_through
                                           else self.cache.capacity)


class CoreBridge:
    """``inference``: how requests without a program id (plain runs) find their
    program, as on the server (None: they stay plain requests the core never sees)."""

    def __init__(self, policy: SimPolicy, cache: PrefixCache,
                 on_lock: Callable[[float], None] = lambda expires_at: None,
                 inference: ProgramInference | None = None):
        self.policy = policy
        self.core = policy.core
        self.cache = cache
        self.locks = ProgramLocks(cache)
        self.inference = inference
        self._on_lock = on_lock
        self.forced_drops = 0
        self._runs: dict[tuple[str, str], ProgramRun] = {}  # core key -> run (prefetch)
        turns.start(self.core, inference, self.locks)

    def arrival(self, req: Request, now: float) -> None:
        run = req.program
        run.sent = req.prompt
        if not run.plain:
            turns.arrive(self.core, run.key, now)
            return
        run.inferred = None
        if self.inference is None:
            return
        found = turns.arrive_inferred(self.core, self.inference, run.key[0],
                                      ContextIds(run.index, 0, req.prompt),
                                      f"{run.spec.program_id}/{req.turn}", now)
        if found is not None:
            run.inferred, run.key = found, found.key

    def admitted(self, req: Request, now: float, hit: int) -> None:
        key = req.program.core_key
        if key is not None:
            turns.admit(self.core, self.locks, key, now, waited_s=now - req.arrival,
                        cached_tokens=hit, input_tokens=req.prompt,
                        preempted=req.preempted)

    def finished(self, req: Request, now: float) -> LockDecision | None:
        """A turn finished: the core's decision (None: a plain request it never saw)."""
        run = req.program
        turn = run.spec.turns[req.turn]
        if run.plain:
            if run.inferred is None:
                return None
            # The tool the output calls first, as the server's detection reads it.
            decision = turns.finish_inferred(
                self.core, self.locks, self.inference, run.inferred, now,
                prompt=ContextIds(run.index, 0, run.sent),
                output=ContextIds(run.index, run.sent, run.sent + turn.output),
                context_tokens=self.cache.cached(run.index),
                tool=turn.tools[0] if turn.tools else None, target=run)
        else:
            last = req.turn == len(run.spec.turns) - 1
            decision = turns.finish(self.core, self.locks, run.key, now,
                                    context_tokens=self.cache.cached(run.index),
                                    tool=turn.tool, last_turn=last,
                                    ttl_hint_s=None, target=run)
        if run.core_key is not None:
            if decision.reason == "last_turn":
                self._runs.pop(run.core_key, None)
            else:
                self._runs[run.core_key] = run
        if decision.ttl_s > 0:
            self._on_lock(now + decision.ttl_s)
        return decision

    def wake_at(self, t: float) -> None:
        """Wake the engine at `t` (as a lock's expiry does): a prefetch falls due."""
        self._on_lock(t)

    def run_of(self, key: tuple[str, str]) -> ProgramRun | None:
        """The run the core knows by `key` (its latest finished turn's)."""
        return self._runs.get(key)

    def expire(self, now: float) -> int:
        return turns.expire(self.core, self.locks, now, self.inference)

    def relieve(self, head: Request | None = None, engine_idle: bool = True) -> bool:
        """Release one lock for memory pressure, if the policy allows it and one exists
        (for a waiting `head`, the core decides which locks may give way to it)."""
        if not self.policy.pressure_release:
            return False
        if head is None:
            return turns.relieve(self.core, self.locks)
        return turns.relieve(self.core, self.locks, head.program.queue_key, head.arrival,
                             engine_idle)

    def force_drop(self) -> bool:
        """Deadlock breaker for policies that may not release: the core drops the lock
        held longest, of a program with no waiting turn first; False if none is held."""
        if not turns.drop_oldest(self.core, self.locks):
            return False
        self.forced_drops += 1
        return True

    def abort(self, run: ProgramRun) -> None:
        if run.core_key is not None:
            turns.drop(self.core, self.locks, run.core_key)
