"""An SGLang-like engine: FCFS-head admission, chunked prefill, batched decode.

Semantics follow SGLang 0.5 defaults (``--enable-mixed-chunk`` off):
- A step is either a prefill batch (the in-flight chunked request first, then waiting
  requests in queue order while the chunk budget lasts) or one decode step of every
  running request; prefill goes first when there is any.
- Admission: the head of the sorted queue must fit: its uncached prompt tokens plus
  ``new_token_ratio`` * the decode tokens still owed by it and every running request
  (SGLang's soft reservation) must not exceed free + evictable tokens. If it does not
  fit, locks are released for pressure (policies that allow it); otherwise admission
  stops at the head (no skipping).
- Decode allocates one token per running request per step; out of memory, it
  releases locks (if allowed), then retracts the most recently admitted request,
  whose KV computed by this admission is freed and which re-queues as preempted.
- A policy with an admission gate (``core/admission_gate.py``; the default's without a
  host tier) holds new programs' first turns while the resident programs' KV would not
  fit its limit (mode "park" while the pool thrashes: also a resident program's later
  turn while the programs admitted before it would not fit beside it); held turns do
  not block the turns behind them. The resident programs are the server's table
  (``Residents``): with a server's gate (``LevelGate``) a program paused longer than the
  core's paused_horizon_s leaves it while nothing runs, and an engine the gate
  keeps idle wakes when one does.
- Consecutive pure-decode steps are simulated as one macro step, ended before the
  next event (arrival, expiry) or the first request finishing: exact, since nothing
  that changes admission happens in between (decode only consumes headroom).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..core.admission_gate import Residents
from .bridge import CoreBridge
from .cache import PrefixCache
from .predictor import BatchShape, Predictor
from .request import Request


# How far ahead (s) the engine asks the core which paused programs are due back; a
# program is loaded when its predicted return is within its copy's transfer time.
PREFETCH_LOOKAHEAD_S = 60.0


@dataclass(frozen=True)
class EngineConfig:
    chunk_size: int = 8192
    max_running: int = 256
    new_token_ratio: float = 0.7   # SGLang's init_new_token_ratio (kept constant here)

    def __post_init__(self):
        if not isinstance(self.chunk_size, int) or self.chunk_size < 1:
            raise ValueError(f"EngineConfig.chunk_size={self.chunk_size!r}: must be an int >= 1")
        if not isinstance(self.max_running, int) or self.max_running < 1:
            raise ValueError(f"EngineConfig.max_running={self.max_running!r}: must be an int >= 1")
        if not 0 <= self.new_token_ratio <= 1:
            raise ValueError(f"EngineConfig.new_token_ratio={self.new_token_ratio!r}: in [0, 1]")


@dataclass
class Batch:
    seconds: float
    prefill: list[tuple[Request, int]] = field(default_factory=list)
    decode_steps: int = 0


class Engine:
    def __init__(self, config: EngineConfig, predictor: Predictor, cache: PrefixCache,
                 bridge: CoreBridge):
        self.cfg, self.predictor, self.cache, self.bridge = config, predictor, cache, bridge
        self.waiting: list[Request] = []
        self.prefilling: list[Request] = []
        self.running: list[Request] = []
        self.owed = 0          # decode tokens still owed by admitted requests
        self.dirty = False     # something changed that may let the head in
        self.admissions = 0
        self.retractions = 0
        self.deadlocks = 0
        self.aborted: list[Request] = []
        self.prefilled = 0     # prefill tokens processed so far (SGLang's hrrn clock)
        # started, unfinished programs and their KV tokens (the gate's input)
        self.resident = Residents(math.inf)
        self.gated = False     # the last pass left only first turns the gate holds
        self._prefetch_done: dict[int, float] = {}  # program -> its prefetch's end
        self._link_free_at = 0.0  # when the host link is free of prefetches
        self.prefetched_tokens = 0
        self._wakes: dict[int, float] = {}  # program -> the wake set for its prefetch
        self._expiry_wake = math.nan  # the wake set for a paused resident's leaving

    # queue -------------------------------------------------------------------------
    def submit(self, req: Request, now: float | None = None) -> None:
        req.queued_at = req.arrival if now is None else now
        req.queued_prefilled = self.prefilled
        req.program.waiting = True
        self.waiting.append(req)
        self.dirty = True
        if req.turn > 0 and not req.preempted:  # its tool returned: no longer paused
            self.resident.resume(req.program.index, req.queued_at)

    def busy(self) -> bool:
        return bool(self.waiting or self.prefilling or self.running)

    # planning ----------------------------------------------------------------------
    def plan(self, now: float, horizon_s: float) -> Batch | None:
        if self.bridge.expire(now):
            self.dirty = True
        if self.gated and self.resident.next_expiry(self._paused_s()) < now:
            self.dirty = True  # a paused resident left the gate's table
        if self.bridge.policy.prefetch and self.cache.host_tier:
            self._prefetch(now)
        while True:
            tried = self.dirty
            batch = self._plan_prefill(now)
            if batch is None and self.running:
                batch = self._plan_decode(now, horizon_s)
            if batch is not None or not self.busy():
                return batch
            if not (self.running or self.prefilling):
                if self.gated:
                    self._wake_at_expiry()
                    return None  # idle until a resident program's turn, end or expiry
                if tried:
                    self._unblock(now)
                self.dirty = True

    def _plan_prefill(self, now: float) -> Batch | None:
        budget = self.cfg.chunk_size - sum(r.prompt - r.computed for r in self.prefilling)
        if budget > 0 and self.waiting and self.dirty:
            self._admit(now, budget)
        if not self.prefilling:
            return None
        budget, items, attention, reload, prefix = self.cfg.chunk_size, [], 0.0, 0, 0
        charge_reloads = not self.bridge.policy.free_reloads
        for req in self.prefilling:
            n = min(req.prompt - req.computed, budget)
            if n <= 0:
                break
            items.append((req, n))
            attention += n * (2 * req.computed + n)
            prefix += req.computed
            if charge_reloads:
                reload += req.reload
            req.reload = 0
            budget -= n
        shape = BatchShape(sum(n for _, n in items), attention, reload_tokens=reload,
                           prefill_prefix=prefix, write_tokens=self.cache.take_written_back())
        return Batch(self.predictor.batch_seconds(shape), items)

    def _prefetch(self, now: float) -> None:
        """Demote-and-prefetch: load a paused program's host copy back onto the device
        when its tool is due back within the copy's own transfer time (the core's
        median-duration prediction, ``due_back``), evicting in the cache's order but
        never locked, pinned or reserved KV. The copy runs on the host link beside
        compute (serially with other prefetches); a turn admitted before it completes
        pays the rest as a reload (``_take``)."""
        rate = self._reload_rate()
        if not rate > 0 or math.isinf(rate):
            return
        reserve = math.ceil(self.cfg.new_token_ratio * self.owed)
        for back, key in self.bridge.core.due_back(now, PREFETCH_LOOKAHEAD_S):
            run = self.bridge.run_of(key)
            if run is None or run.waiting or run.index in self._prefetch_done:
                continue
            p = run.index
            missing = self.cache.host_len(p) - self.cache.cached(p)
            if missing <= 0:
                continue
            due = back - missing / rate
            if due > now:  # not yet: wake the engine then (once per due time)
                if self._wakes.get(p) != due:
                    self._wakes[p] = due
                    self.bridge.wake_at(due)
                continue
            room = self.cache.free - reserve
            if self.bridge.policy.prefetch == "evict":
                room += self.cache.evictable_except(p)
            if missing > room:
                continue
            if self.cache.promote(p, missing, now):
                start = max(now, self._link_free_at)
                self._link_free_at = start + missing / rate
                self._prefetch_done[p] = self._link_free_at
                self.prefetched_tokens += missing

    def _reload_rate(self) -> float:
        k = getattr(self.predictor, "k", None)
        return getattr(k, "reload_tokens_per_s", 0.0)

    def _admit(self, now: float, budget: int) -> None:
        self.bridge.policy.order_queue(self.waiting, now, self.cache, self.prefilled)
        gate = self.bridge.policy.gate
        taken: list[Request] = []
        blocked = holding = False
        held = 0
        older = None  # per resident program, built once a resident turn meets the gate
        if gate is not None:  # paused programs past the horizon leave an idle engine's
            idle = not self.running and not self.prefilling  # table only (hooks.py)
            self.resident.expire(now, self._paused_s() if idle else math.inf)
        for req in self.waiting:
            if budget <= 0 or len(self.running) + len(self.prefilling) >= self.cfg.max_running:
                break
            if gate is not None and req.program.index not in self.resident:
                holding = holding or not gate.admits(self.resident.total,
                                                     len(self.resident), req.prompt)
                if holding:
                    held += 1
                    continue
            elif gate is not None and not req.preempted:
                older = older or self.resident.older_all()
                if not gate.keeps(*older[req.program.index], req.prompt + req.remaining):
                    held += 1  # a resident program parked behind older ones
                    continue
            if not self._fits(req):
                blocked = True
                break
            self._take(req, now)
            budget -= req.prompt - req.computed
            taken.append(req)
        if taken:
            gone = set(map(id, taken))
            self.waiting = [r for r in self.waiting if id(r) not in gone]
        self.gated = held > 0 and held == len(self.waiting)
        self.dirty = not blocked and not holding and bool(self.waiting)

    def _fits(self, req: Request) -> bool:
        p = req.program.index
        reserve = math.ceil(self.cfg.new_token_ratio * (self.owed + req.remaining))
        idle = (not self.running and not self.prefilling) or self._locks_outweigh_running()
        # measured again after each release: the lock that gave way may be the head's
        # own program's (demoted to host), which leaves it more to extend
        while (req.prompt - min(self.cache.cached(p), req.prompt - 1)
               > self.cache.free + self.cache.evictable_except(p) - reserve):
            if not self.bridge.relieve(req, idle):
                return False
        return True

    def _locks_outweigh_running(self) -> bool:
        """The core's lock_running_ratio: the locks pin more than that many times the
        running requests' contexts (the engine then counts as idle to them)."""
        core = self.bridge.core
        if not core.config.lock_running_ratio:  # off (the default): no sum per check
            return False
        running = sum(self.cache.cached(r.program.index)
                      for r in self.running + self.prefilling)
        return core.locks_outweigh(running, self.bridge.locks.host_free_tokens())

    def _take(self, req: Request, now: float) -> None:
        run, cache = req.program, self.cache
        p = run.index
        hit = min(cache.cached(p), req.prompt - 1)
        cache.pin(p)
        cache.truncate(p, hit)
        cache.make_room(req.prompt - hit)
        cache.grow(p, req.prompt - hit)
        req.reload = max(0, min(cache.host_len(p), req.prompt - 1) - hit) if cache.host_tier else 0
        done = self._prefetch_done.pop(p, None)
        self._wakes.pop(p, None)
        if done is not None and done > now:  # its prefetch is still on the link
            rate = self._reload_rate()
            late = min(hit, math.ceil((done - now) * rate))
            hit -= late
            req.reload += late
        req.base, req.computed = hit, hit + req.reload
        if req.admitted_at is None:
            req.admitted_at, req.hit = now, hit + req.reload
        self.bridge.admitted(req, now, hit + req.reload)
        self.resident.update(p, req.prompt + req.remaining, now, running=True)
        run.waiting = False
        self.admissions += 1
        req.order = self.admissions
        self.owed += req.remaining
        self.prefilling.append(req)

    def _plan_decode(self, now: float, horizon_s: float) -> Batch | None:
        while self.cache.free + self.cache.evictable < len(self.running):
            if not self.bridge.relieve():
                self._retract(max(self.running, key=lambda r: r.order), now)
                if not self.running:
                    return None
        b = len(self.running)
        room = (self.cache.free + self.cache.evictable) // b
        most = min(min(r.remaining for r in self.running), room)
        context = sum(r.prompt + r.generated for r in self.running)
        steps, seconds = self.predictor.decode_steps_within(b, context, horizon_s, most)
        self.cache.make_room(b * steps)
        for r in self.running:
            self.cache.grow(r.program.index, steps)
        written = self.cache.take_written_back()
        if written:
            seconds += self.predictor.batch_seconds(BatchShape(write_tokens=written))
        return Batch(seconds, decode_steps=steps)

    def _retract(self, req: Request, now: float) -> None:
        self.running.remove(req)
        self.owed -= req.remaining
        p = req.program.index
        self.cache.truncate(p, req.base)
        self.cache.unpin(p, now, inserted=False)
        req.prompt += req.generated
        req.output -= req.generated
        req.generated = req.computed = 0
        req.preempted = True
        req.retractions += 1
        self.retractions += 1
        self.submit(req, now)

    def _unblock(self, now: float) -> None:
        """Nothing runs and the head does not fit: a deadlock for policies whose locks
        may not be released. Close the oldest idle session (core.drop), as a client
        timeout would; with no lock left, abort the head request (it cannot fit)."""
        self.deadlocks += 1
        if not self.bridge.force_drop():
            head = self.waiting.pop(0)
            head.program.waiting = False
            self.bridge.abort(head.program)
            self.aborted.append(head)
        self.dirty = True

    def program_ended(self, index: int) -> None:
        """A program finished or was aborted: its KV no longer counts as resident."""
        if index in self.resident:
            self.resident.drop(index)
            self.dirty = True

    def turn_finished(self, req: Request, now: float) -> None:
        """A turn finished: its program stays resident, paused, with its context."""
        p = req.program.index
        if p in self.resident:
            self.resident.update(p, req.prompt + req.generated, now, running=False)

    def _paused_s(self) -> float:
        """How long a paused program stays resident (a server's gate: the core's
        paused_horizon_s; a comparison gate: until it ends)."""
        paused = getattr(self.bridge.policy.gate, "paused_s", None)
        return math.inf if paused is None else paused()

    def _wake_at_expiry(self) -> None:
        """The gate holds every waiting turn and nothing runs: wake when the next
        paused resident leaves, as a server's next step would admit then."""
        due = self.resident.next_expiry(self._paused_s())
        if math.isfinite(due) and due != self._expiry_wake:
            self._expiry_wake = due
            self.bridge.wake_at(due)

    # completion --------------------------------------------------------------------
    def complete(self, batch: Batch, now: float) -> list[Request]:
        done: list[Request] = []
        for req, n in batch.prefill:
            self.prefilled += n
            req.computed += n
            if req.computed >= req.prompt:
                req.generated += 1
                self.owed -= 1
                if req.first_token_at is None:
                    req.first_token_at = now
                (done if req.remaining <= 0 else self.running).append(req)
        if batch.prefill:
            self.prefilling = [r for r in self.prefilling if r.computed < r.prompt]
        if batch.decode_steps:
            k = batch.decode_steps
            self.owed -= k * len(self.running)
            for req in self.running:
                req.generated += k
            done += [r for r in self.running if r.remaining <= 0]
            self.running = [r for r in self.running if r.remaining > 0]
        for req in done:
            self.cache.unpin(req.program.index, now)
        if done:
            self.dirty = True
        return done

