"""ContinuumPolicy: the facade that the SGLang adapter and the simulator drive."""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from types import MappingProxyType
from typing import Callable, NamedTuple

from .config import PolicyConfig
from .estimates import EtaEstimator, QueueDelayWindow, ToolStats
from .host_rule import HostLockRule, LiveContexts
from .lock_table import HostHolds, Lock, LockTable, Path, ProgramKey, ProgramTable
from .queue_order import QueueRanks
from .snapshot import TAU_BUCKETS, PolicySnapshot, TauHistogram
from .ttl import ContentionGauge, TtlRules

logger = logging.getLogger(__name__)


class LockDecision(NamedTuple):
    """ttl_s > 0: lock the finished turn's KV for ttl_s seconds; 0: do not lock.

    reason: where the TTL came from ("hold", "cost_model" (paper), "cold_start",
    "fixed", "hint") or why there is none ("last_turn", "off", or a refusing bound:
    "per_program_cap", "tenant_share", "lock_budget"). A NamedTuple: one per finished
    turn, and a frozen dataclass's __init__ cost about 1 us of it.
    """

    ttl_s: float
    reason: str


class ContinuumPolicy:
    """TTL locks for agent programs paused in a tool call, and program-level FCFS.

    Every method takes `now` (float seconds, any epoch) where time matters; nothing here
    reads a clock. Lock handles are opaque objects owned by the caller.
    """

    def __init__(self, config: PolicyConfig, capacity_tokens: int) -> None:
        if isinstance(capacity_tokens, bool) or not isinstance(capacity_tokens, int) \
                or capacity_tokens < 1:
            raise ValueError(
                f"capacity_tokens: expected an integer >= 1, got {capacity_tokens!r}")
        self.config = config
        self.capacity_tokens = capacity_tokens
        self._programs = ProgramTable(config.max_programs)
        # Programs whose last turn finished, until a new turn of that key arrives: a
        # turn that arrived before the end and finishes after it must not lock.
        self._ended: OrderedDict[ProgramKey, None] = OrderedDict()
        self._locks = LockTable()
        self._holds = HostHolds()
        self._stats = ToolStats(config.duration_window, config.cold_start_samples,
                                config.max_tools, tool_window=config.tool_window,
                                tenant_window=config.tenant_window,
                                tenant_tools=config.tenant_tools,
                                max_tenants=config.max_tool_tenants)
        self._queue_delay = QueueDelayWindow(config.queue_delay_window)
        self._eta = EtaEstimator()
        self._tau = TauHistogram()
        self._ranks = QueueRanks(self._programs.lookup, config)
        # pressure_scope: whether locks give way only to older programs' heads, and
        # whether room on the host tier lifts that bound
        self._younger_only = (config.pressure_scope in ("younger", "host_room")
                              or (config.pressure_scope == "host" and not config.host_tier))
        self._room_lifts = config.pressure_scope == "host_room" and config.host_tier
        self._host_rule = HostLockRule(config.host_locks, config.host_hit_share,
                                       config.host_hit_window, config.host_probe_every,
                                       config.host_fit_share)
        # host_locks "fits": the live programs' contexts against the tiers' capacity
        self._live = LiveContexts(config.max_ttl_s, config.max_programs) \
            if config.host_tier and config.host_locks == "fits" else None
        self._host_total: float | None = None
        self._contention = ContentionGauge(config.contention_window,
                                           config.contention_saturation)
        self._ttl_source = TtlRules(config, self._stats, self._queue_delay, self._eta,
                                    self._contention).for_mode(config.mode)
        self._program_cap = config.per_program_max_fraction * capacity_tokens
        self._tenant_cap = config.per_tenant_fraction * capacity_tokens
        self._budget = config.lock_budget_fraction * capacity_tokens
        self._counts = dict.fromkeys(
            ("set", "consumed", "lapsed", "released_pressure", "dropped", "refused",
             "programs_ended", "unlocked_host"), 0)
        self._refused: dict[str, int] = {}

    def set_host_capacity(self, tokens: float | None) -> None:
        """What the tiers hold together, in tokens (host_locks "fits"; None: unknown;
        inf: unbounded). The same on every TP rank: the ranks' pools are sized by the
        same server args."""
        if tokens is not None and not tokens >= 0:
            raise ValueError(f"host capacity: expected tokens >= 0, got {tokens!r}")
        self._host_total = tokens

    # Turn lifecycle -------------------------------------------------------------------

    def on_arrival(self, key: ProgramKey, now: float) -> None:
        """A turn of `key` arrived: record the tool's duration; the program now waits."""
        self._ended.pop(key, None)  # a turn after the end starts the key afresh
        program = self._programs.touch(key, now)
        if self._live is not None:
            self._live.arrived(key, now)
        if program.last_finish is not None:
            self._stats.record(program.last_tool, now - program.last_finish, key[0])
            program.last_finish = None
        program.finished = False
        program.waiting = True
        if program.locked:
            self._locks.set_waiting(key, True)

    def on_admitted(self, key: ProgramKey, now: float) -> object | None:
        """The waiting turn was admitted; returns the lock handle it consumes, if any."""
        program = self._programs.get(key)
        if program is None:
            return None
        program.waiting = False
        program.last_seen = now
        lock = self._locks.pop(key)
        if lock is None:
            if program.turns:  # a later turn without a lock: did memory run short?
                self._contention.resumed()
            return None
        self._counts["consumed"] += 1
        self._unlocked(lock)
        return lock.handle

    def resumed_unlocked(self, key: ProgramKey, found: bool) -> None:
        """A later turn of a program was admitted without a lock: with a host tier,
        the host rule learns whether its context was found."""
        if not self.config.host_tier or self._host_rule.mode != "learned":
            return  # only the learned rule reads what it would record
        program = self._programs.get(key)
        if program is not None and program.turns > 0:
            self._host_rule.record(found)

    def on_finish(self, key: ProgramKey, now: float, context_tokens: int,
                  tool: str | None, last_turn: bool,
                  ttl_hint_s: float | None = None, open_ended: bool = False,
                  p_continue: float = 1.0, host_free: float | None = None,
                  path: Path | None = None) -> LockDecision:
        """A turn finished: decide whether and how long to lock its `context_tokens`.
        Bounds in order: per_program_cap (the context), lock_budget, tenant_share (the
        tokens the locks pin: `path` as LockTable.add takes it); a lock the program holds
        counts as replaced. A turn of a program that already ended gets (0,
        "last_turn"); the caller then drops any lock a concurrent turn set. `open_ended`:
        no last turn will be announced (PolicyConfig.open_cold_start_samples).
        `p_continue`: the probability the context is continued at all (an unproven
        first turn: set_first_turn_share's); it scales the gain; 0: (0, "unproven").
        `host_free`: the host pool's free tokens (host_locks "room")."""
        if key in self._ended:
            return LockDecision(0.0, "last_turn")
        program = self._programs.touch(key, now)
        program.turns += 1
        program.last_finish = now
        program.last_tool = tool
        program.waiting = False
        if program.locked:
            self._locks.set_waiting(key, False)
        if self._live is not None:
            if last_turn:
                self._live.drop(key)
            else:
                self._live.update(key, context_tokens, now)
        if last_turn:
            self._eta.add_program(program.turns)
            self._counts["programs_ended"] += 1
            program.finished = True
            self._ended[key] = None
            if len(self._ended) > self.config.max_programs:
                self._ended.popitem(last=False)
            if not program.locked:
                self._programs.forget(key)
            return LockDecision(0.0, "last_turn")
        if self._ttl_source is None:
            return LockDecision(0.0, "off")
        if not p_continue > 0:
            return LockDecision(0.0, "unproven")
        if ttl_hint_s is None and self.config.host_tier \
                and self._host_rule.skips_lock(
                    context_tokens, host_free,
                    self._live.total(now) if self._live is not None else 0.0,
                    self._host_total):
            self._counts["unlocked_host"] += 1
            return LockDecision(0.0, "host_tier")
        if ttl_hint_s is not None:
            if not (ttl_hint_s >= 0 and math.isfinite(ttl_hint_s)):
                raise ValueError(f"ttl_hint_s: expected a finite number >= 0, "
                                 f"got {ttl_hint_s!r}")
            ttl, reason = min(ttl_hint_s, self.config.max_ttl_s), "hint"
        else:
            ttl, reason = self._ttl_source(tool, context_tokens, open_ended, p_continue,
                                           key[0])
        self._tau.add(ttl)
        if ttl <= 0:
            return LockDecision(0.0, reason)
        refusal = self._locks.refusal(key, context_tokens, self._program_cap,
                                      self._tenant_cap, self._budget, path)
        if refusal is not None:
            self._counts["refused"] += 1
            self._refused[refusal] = self._refused.get(refusal, 0) + 1
            logger.debug("lock of %s refused by %s (%d tokens)", key, refusal, context_tokens)
            return LockDecision(0.0, refusal)
        return LockDecision(ttl, reason)

    def set_lock(self, key: ProgramKey, now: float, ttl_s: float, tokens: int,
                 handle: object, path: Path | None = None) -> object | None:
        """The adapter holds `tokens` for `key` until now + ttl_s (`path`: the segments
        it pins, LockTable.add).

        Returns the handle of a lock this one replaced (the caller releases it), or None.
        """
        if not ttl_s > 0 or tokens < 0:
            raise ValueError(f"set_lock: expected ttl_s > 0 and tokens >= 0, "
                             f"got ttl_s={ttl_s!r}, tokens={tokens!r}")
        program = self._programs.touch(key, now)
        # The pressure order ranks the lock by its program's age, capped as the queue
        # caps it: a program id kept alive for hours counts as at most one age cap older
        # than the lock, so it cannot hold against every younger program forever.
        age_from = max(program.first_arrival, now - self.config.queue_age_cap_s)
        previous = self._locks.add(key, now + ttl_s, tokens, handle, now,
                                   age_from, program.waiting, path)
        program.locked = True
        self._counts["set"] += 1
        return previous.handle if previous is not None else None

    def due_back(self, now: float, within_s: float, q: float = 0.5
                 ) -> list[tuple[float, ProgramKey]]:
        """Paused programs (a finished turn, no waiting turn, no lock) whose tool is
        predicted to return by `now + within_s`: (predicted return, key), soonest
        first. The prediction is the finish plus the `q`-quantile of the tool's learned
        durations (the tenant's, as the TTL reads them); a tool with none yet is left
        out. For demote-and-prefetch (a simulator mechanism, docs/design.md): a paused
        program's KV that left the device is loaded back ahead of its return. O(programs)."""
        out = []
        for program in self._programs.values():
            if program.last_finish is None or program.waiting or program.locked \
                    or program.finished:
                continue
            d = self._stats.quantile(program.last_tool, q, program.tenant)
            if not d >= 0:
                continue
            back = program.last_finish + d
            if back <= now + within_s:
                out.append((back, program.key))
        out.sort()
        return out

    # Lock release -----------------------------------------------------------------------

    def expired(self, now: float) -> list[tuple[ProgramKey, object]]:
        """Remove and return locks past their TTL, except those of waiting programs,
        which are parked for at most one age cap more (the waiting turn is overdue by
        then, and goes by its rank, not by its lock)."""
        out = []
        for lock in self._locks.pop_expired(now, self.config.queue_age_cap_s):
            self._counts["lapsed"] += 1
            self._unlocked(lock)
            out.append((lock.key, lock.handle))
        return out

    def release_for_pressure(self, head: ProgramKey | None = None,
                             head_arrival: float | None = None,
                             engine_idle: bool = True, host_free: float | None = None
                             ) -> tuple[ProgramKey, object] | None:
        """Remove the lock of the youngest program (latest first arrival), if any;
        programs whose next turn is not waiting first (their KV is the least needed).
        With pressure_scope "younger" and the waiting head given (its program key, or its
        arrival), only programs younger than the head's give way, unless the engine is
        idle (locks never starve it). A head without a program id is bounded by its
        queue rank (QueueRanks.plain_bound). With "host_room", `host_free` (the host
        pool's free tokens) lifts the bound while it could take every lock's context."""
        self._contention.pressed()
        lock = self._locks.pop_youngest(self._pressure_bound(head, head_arrival,
                                                             engine_idle, host_free))
        if lock is None:
            return None
        self._counts["released_pressure"] += 1
        self._unlocked(lock)
        return lock.key, lock.handle

    def pressure_could_fit(self, deficit_tokens: float, head: ProgramKey | None = None,
                           head_arrival: float | None = None,
                           engine_idle: bool = True, head_path: Path | None = None,
                           host_free: float | None = None) -> bool:
        """Could releasing every lock that may give way to this head (release_for_pressure)
        free `deficit_tokens`? The locks count the tokens they pin, as the lock budget
        does: a prefix several of them share once, and none that a lock staying behind
        or the head's own matched prefix (`head_path`, as set_lock takes a path: SGLang
        pins it while it checks the fit) also pins. Still an upper bound: running
        requests may hold some. False: release none, the head would not fit anyway and
        the locks would go for nothing."""
        if not deficit_tokens > 0:
            return True
        bound = self._pressure_bound(head, head_arrival, engine_idle, host_free)
        return self._locks.tokens_younger_than(bound, deficit_tokens,
                                               head_path) >= deficit_tokens

    def locks_outweigh(self, running_tokens: float, host_free: float | None = None
                       ) -> bool:
        """``lock_running_ratio``: the locks pin more than that many times
        `running_tokens` (the running requests' contexts); callers then count the engine
        as idle, so any lock may give way. With a host tier (`host_free`: its free
        tokens) as ``lock_running_host`` says: never ("off"), only while those could
        take any lock's context ("room"), or always ("on"). Inputs are shared by every
        TP rank."""
        ratio = self.config.lock_running_ratio
        if not (ratio > 0 and self._locks.pinned > ratio * running_tokens):
            return False
        if host_free is None or self.config.lock_running_host == "on":
            return True
        return self.config.lock_running_host == "room" and self._host_takes_any(host_free)

    def _pressure_bound(self, head: ProgramKey | None, head_arrival: float | None,
                        engine_idle: bool, host_free: float | None = None) -> float:
        """Locks of programs whose (capped) age is after this give way to the head. The
        head's program counts at its queue rank (first arrival, at most one age cap
        before the head's arrival), a head without a program id at QueueRanks.plain_bound."""
        if engine_idle or not self._younger_only or self._host_has_room(host_free):
            return -math.inf
        program = self._programs.get(head) if head is not None else None
        if program is not None:
            bound = program.first_arrival
            if head_arrival is not None:
                bound = max(bound, head_arrival - self.config.queue_age_cap_s)
            return bound
        if head_arrival is None:
            return -math.inf
        return head_arrival if head is not None else self._ranks.plain_bound(head_arrival)

    def _host_has_room(self, host_free: float | None) -> bool:
        """Scope "host_room": the host pool's free tokens could take the context of
        every lock (any one of them may be the one that gives way and is demoted)."""
        return self._room_lifts and self._host_takes_any(host_free)

    def _host_takes_any(self, host_free: float | None) -> bool:
        """The host pool's free tokens could take any lock's context (there is a lock)."""
        if host_free is None or not len(self._locks):
            return False
        return host_free >= max(lock.tokens for lock in self._locks.values())

    def drop_oldest(self) -> tuple[ProgramKey, object] | None:
        """Drop the lock held longest, of a program with no waiting turn first, as a
        session timeout closes the oldest idle session: the deadlock breaker of an
        engine whose locks never give way under pressure. Counted as dropped."""
        lock = self._locks.oldest()
        if lock is None:
            return None
        return lock.key, self.drop(lock.key)

    def clear(self) -> None:
        """The adapter's cache was reset (SGLang's flush_cache): every lock and host hold
        names KV that is gone. They are forgotten, not released: no handle comes back,
        and none counts as lapsed, dropped or given way under pressure."""
        for lock in self._locks.clear():
            program = self._programs.get(lock.key)
            if program is not None:
                program.locked = False
                if program.finished:
                    self._programs.forget(lock.key)
        self._holds.clear()

    @property
    def host_holds(self) -> HostHolds | None:
        """With a host tier, where released locks' KV goes (core/lock_table.py HostHolds)."""
        return self._holds if self.config.host_tier else None

    def drop(self, key: ProgramKey) -> object | None:
        """Remove the lock of `key` (abort, last turn, disconnect); the program stops
        waiting. Returns its handle or None."""
        program = self._programs.get(key)
        if program is not None:
            program.waiting = False
        if self._live is not None:
            self._live.drop(key)
        lock = self._locks.pop(key)
        if lock is not None:
            self._counts["dropped"] += 1
            self._unlocked(lock)
            return lock.handle
        if program is not None and program.finished:
            self._programs.forget(key)
        return None

    # Queue order and estimates --------------------------------------------------------

    def queue_key(self, key: ProgramKey | None, arrival: float,
                  preempted: bool, now: float | None = None,
                  uncached: int | None = None) -> tuple:
        """Sort key of a waiting request; see queue_order.queue_key. A waiting program's
        lock persists until admission (or one age cap past its TTL), so it is in TTL iff
        locked. With `now`, a request waiting longer than the age cap is overdue.
        `uncached`: its prompt tokens not cached (queue_order "srpt")."""
        if now is None:
            return self._ranks.key(key, arrival, preempted, uncached)
        return self._ranks.key_at(now)(key, arrival, preempted, uncached)

    def queue_key_fn(self, now: float | None = None) -> Callable[..., tuple]:
        """queue_key as one function for sorting a whole queue (queue_order.key_fn);
        fetch it per sort: it changes with set_first_turn_share and with `now`."""
        return self._ranks.key if now is None else self._ranks.key_at(now)

    def set_first_turn_share(self, share: float) -> None:
        """The learned share of requests without a program id that a later prompt
        continued (core/inference.py FirstTurns): it moves their rank (QueueRanks)."""
        self._ranks.set_share(share)

    def continuation_horizon_s(self, q: float = 0.99) -> float:
        """How long a continuation may take: ToolStats.horizon, at most max_ttl_s."""
        return self._stats.horizon(q, self.config.cold_start_mean_s, self.config.max_ttl_s)

    def paused_horizon_s(self, q: float = 0.99) -> float:
        """How long a program paused in a tool call is presumed to be coming back (the
        admission gate's resident table, core/admission_gate.Residents): max_ttl_s until
        cold_start_samples tool durations have been recorded (the first returns are the
        short tools: a quantile of them would presume the long ones gone), then
        continuation_horizon_s."""
        if self._stats.total() < self.config.cold_start_samples:
            return self.config.max_ttl_s
        return self.continuation_horizon_s(q)

    def turns_done(self, key: ProgramKey) -> int:
        """Finished turns of a known program (0 for an unknown one)."""
        program = self._programs.get(key)
        return program.turns if program is not None else 0

    def record_queue_delay(self, seconds: float) -> None:
        """Queueing delay of a request whose context had been evicted (feeds T)."""
        self._queue_delay.add(seconds)
        self._contention.evicted()

    def overdue_locked_tokens(self, now: float, q: float = 0.99) -> int:
        """KV held by locks whose tool has run past its learned q-quantile (slow or hung;
        a queued next turn is not). O(locks): for status and metrics. NaN: not overdue."""
        get, quantile = self._programs.get, self._stats.quantile
        return sum(lock.tokens for lock in self._locks.values() if not lock.waiting and
                   now - lock.set_at > quantile(getattr(get(lock.key), "last_tool", None), q,
                                                lock.key[0]))

    @property
    def contention(self) -> float:
        """The contention gauge's level: the share (0..1) of recent resumptions that met
        memory pressure (every TP rank sees the same events)."""
        return self._contention.level

    def snapshot(self, now: float | None = None) -> PolicySnapshot:
        """Counters and estimates; with `now`, also overdue_locked_tokens(now)."""
        c = self._counts
        return PolicySnapshot(
            mode=self.config.mode, capacity_tokens=self.capacity_tokens,
            locked_tokens=self._locks.tokens, active_locks=len(self._locks),
            programs=len(self._programs), programs_ended=c["programs_ended"],
            locks_set=c["set"], locks_consumed=c["consumed"],
            locks_lapsed=c["lapsed"], locks_released_pressure=c["released_pressure"],
            locks_dropped=c["dropped"], locks_refused=c["refused"],
            refused_by_reason=MappingProxyType(dict(self._refused)),
            tau_buckets=TAU_BUCKETS, tau_counts=self._tau.counts(),
            tools=MappingProxyType(self._stats.estimates()),
            duration_samples=self._stats.total(), queue_delay_s=self._queue_delay.mean(),
            eta=self._eta.eta(), contention=self._contention.level,
            memory_price=self._contention.price(), first_turn_share=self._ranks.share,
            overdue_locked_tokens=0 if now is None else self.overdue_locked_tokens(now),
            live_context_tokens=0.0 if now is None or self._live is None
            else self._live.total(now),
            host_capacity_tokens=self._host_total if self._host_total is not None
            and math.isfinite(self._host_total) else 0.0,
            turns_unlocked_host=c["unlocked_host"],
            **self._holds.counts())

    # Internals --------------------------------------------------------------------------

    def _unlocked(self, lock: Lock) -> None:
        if self.config.host_tier:  # a lock that lapses or gives way may demote its KV
            # A lock parked past its TTL (its program's turn waits) is bounded by one
            # age cap more (expired()); its host hold takes the same bound, not a TTL
            # that has already passed.
            until = lock.expires_at + (self.config.queue_age_cap_s
                                       if lock.parked or lock.waiting else 0.0)
            self._holds.released(lock.key, until, lock.tokens)
        program = self._programs.get(lock.key)
        if program is None:
            return
        program.locked = False
        if program.finished:
            self._programs.forget(lock.key)
