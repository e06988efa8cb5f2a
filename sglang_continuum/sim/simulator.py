"""Wires workload, engine, cache, predictor and policy around the event loop."""

from __future__ import annotations

import time
from collections import deque
from typing import Callable, Sequence

from ..core import ContinuumPolicy, PrefillModel, ProgramInference
from .bridge import CoreBridge
from .cache import PrefixCache
from .engine import Batch, Engine, EngineConfig
from .events import EngineStep, LockExpiry, ProgramArrival, TurnArrival
from .loop import EventLoop
from .metrics import ProgramRecord, Summary, TurnRecord, summarize
from .policies import PolicyContext, make_policy
from .profiles import Profile
from .request import ProgramRun, Request
from .workload import ProgramSpec

EXPIRY_SLACK_S = 1e-6  # core.expired is strict (expires_at < now)


class Simulator:
    def __init__(self, programs: Sequence[ProgramSpec], arrivals: Sequence[float] | None,
                 profile: Profile, policy: str, host_tier: bool = False,
                 engine: EngineConfig | None = None, tenant: str = "",
                 wrap_core: Callable[[ContinuumPolicy], ContinuumPolicy] = lambda c: c,
                 concurrency: int | None = None, plain: frozenset[str] = frozenset(),
                 infer_programs: bool = True, host_capacity: float = float("inf"),
                 write_through: bool = False):
        """Open loop: ``arrivals`` (one start time per program). Closed loop (the
        replay's ``Concurrency``): ``arrivals`` None and ``concurrency`` N: N programs
        start at 0 and each finish starts the next program in order, at once.
        ``plain``: program ids whose requests carry no program id: with
        ``infer_programs`` (the server's default) the core infers their programs from
        their prompts as the server does; without, they are plain requests the core
        never sees. ``host_capacity``: the host tier's tokens (with ``host_tier``);
        ``write_through``: HiCache's write_through (else write_back)."""
        if concurrency is not None:
            if arrivals is not None or not isinstance(concurrency, int) or concurrency < 1:
                raise ValueError(f"concurrency={concurrency!r}: expected an int >= 1 "
                                 "with arrivals=None")
            arrivals = [0.0] * len(programs)  # each set when its program starts
        elif arrivals is None:
            raise ValueError("arrivals=None needs concurrency (closed loop)")
        if len(programs) != len(arrivals):
            raise ValueError(f"{len(programs)} programs but {len(arrivals)} arrival times")
        k = profile.coefficients
        rebuild = (PrefillModel(0.0, 1.0 / k.reload_tokens_per_s, 0.0) if host_tier
                   else PrefillModel(k.a, k.b, k.c))
        self.profile = profile
        self.policy = make_policy(policy, PolicyContext(profile.kv_capacity_tokens, rebuild,
                                                        wrap_core, host_tier, host_capacity))
        self.cache = PrefixCache(profile.kv_capacity_tokens, host_tier, self.policy.eviction,
                                 host_capacity, write_through)
        self.loop = EventLoop()
        self.bridge = CoreBridge(self.policy, self.cache, self._schedule_expiry,
                                 ProgramInference() if infer_programs else None)
        cfg = engine or EngineConfig(profile.chunk_size, profile.max_running)
        self.engine = Engine(cfg, profile.predictor(), self.cache, self.bridge)
        self.runs = [ProgramRun(spec, i, (tenant, spec.program_id), t,
                                plain=spec.program_id in plain)
                     for i, (spec, t) in enumerate(zip(programs, arrivals))]
        self.turn_records: list[TurnRecord] = []
        self.program_records: list[ProgramRecord] = []
        self._stepping = False
        first = self.runs[:concurrency] if concurrency else self.runs
        self._queued = deque(self.runs[len(first):])
        for run in first:
            self.loop.schedule(run.arrival, ProgramArrival(run))

    # called by events ----------------------------------------------------------------
    def submit_turn(self, run: ProgramRun, now: float) -> None:
        turn = run.spec.turns[run.turn]
        req = Request(run, run.turn, turn.prompt, turn.output, now)
        self.bridge.arrival(req, now)
        self.engine.submit(req)
        self.wake(now)

    def wake(self, now: float) -> None:
        if not self._stepping:
            self._stepping = True
            self.loop.schedule(now, EngineStep(None))

    def step_end(self, batch: Batch | None, now: float) -> None:
        if batch is not None:
            for req in self.engine.complete(batch, now):
                self._finish(req, now)
        nxt = self.engine.plan(now, self.loop.peek_time() - now)
        for req in self.engine.aborted:  # heads the plan aborted (Engine._unblock)
            self._end_program(req.program, now, aborted=True)
        self.engine.aborted.clear()
        self._stepping = nxt is not None
        if nxt is not None:
            self.loop.schedule(now + nxt.seconds, EngineStep(nxt))

    # internals -------------------------------------------------------------------------
    def _schedule_expiry(self, expires_at: float) -> None:
        if expires_at < 1e8:  # keep-until-close locks never lapse
            self.loop.schedule(expires_at + EXPIRY_SLACK_S, LockExpiry())

    def _finish(self, req: Request, now: float) -> None:
        run = req.program
        spec = run.spec.turns[req.turn]
        self.turn_records.append(TurnRecord(
            run.spec.program_id, req.turn, req.arrival, req.admitted_at, req.first_token_at,
            now, spec.prompt, req.hit, spec.output, req.retractions))
        self.bridge.finished(req, now)
        self.engine.turn_finished(req, now)
        run.turn += 1
        if run.turn >= len(run.spec.turns):
            self._end_program(run, now)
        else:
            self.loop.schedule(now + spec.gap_s, TurnArrival(run))

    def _end_program(self, run: ProgramRun, now: float, aborted: bool = False) -> None:
        run.finish, run.aborted = now, aborted
        self.cache.close(run.index)
        # as the server: only a last turn the client marked (not an abort, not an
        # inferred program's guessed end)
        if self.policy.drop_ended and not aborted and not run.plain:
            self.cache.drop(run.index, host=self.policy.drop_ended == "all")
        self.engine.program_ended(run.index)
        self.program_records.append(ProgramRecord(
            run.spec.program_id, run.arrival, now, run.turn, aborted))
        if self._queued:
            self.loop.schedule(now, ProgramArrival(self._queued.popleft()))
        if len(self.program_records) == len(self.runs):
            self.loop.stop()

    # entry point -----------------------------------------------------------------------
    def run(self, meta: dict | None = None) -> Summary:
        wall = time.perf_counter()
        self.loop.run(self)
        wall = time.perf_counter() - wall
        if len(self.program_records) != len(self.runs):
            raise RuntimeError(f"simulation ended with {len(self.program_records)} of "
                               f"{len(self.runs)} programs done (engine stuck)")
        snap = self.policy.core.snapshot()
        counters = dict(
            retractions=self.engine.retractions, deadlocks=self.engine.deadlocks,
            forced_lock_drops=self.bridge.forced_drops,
            aborted_programs=sum(p.aborted for p in self.program_records),
            evicted_tokens=self.cache.evicted_tokens,
            host_written_tokens=self.cache.written_tokens,
            policy_snapshot=snap.to_dict(), sim_wall_s=wall,
            sim_requests_per_s=len(self.turn_records) / max(wall, 1e-9))
        base = dict(workload="", profile=self.profile.name, policy=self.policy.name,
                    rate=0.0, seed=0)
        base.update(meta or {})
        return summarize(base, self.turn_records, self.program_records, counters)

