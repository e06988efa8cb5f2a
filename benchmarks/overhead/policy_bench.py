"""Part 2: the policy core's work per scheduler step, through the Controller (the code
the hooks call), on a simulated clock, at 100 / 1,000 / 10,000 active programs.

Five measurements per program count n, each repeated:
- ``step``: one simulated scheduler step in steady state: ``tick`` (expiry scan),
  ``sort_waiting`` over a queue of ``n * waiting_fraction`` requests, then
  ``events_per_step`` admissions, finished turns (TTL choice + lock) and arrivals.
- ``expiry``: ``tick`` with n locks live, TTLs spread over (0, max_ttl], expired locks
  replaced so n stay live.
- ``queue``: ``sort_waiting`` over n waiting requests ("thousands waiting").
- ``ttl``: ``on_release`` of a finished turn (cost-model TTL over the recorded durations,
  then the lock), the per-turn decision.
- ``gate``: one admission pass of the admission gate (the server's default without a
  host tier, ``device-only``) over ``n * waiting_fraction`` first turns of new programs
  while n programs are resident, as ``hooks.around_add_one_req`` asks it: the worst
  pass, every waiting request a new program's.
The step's ``admit`` asks the gate for each request it admits, as the hook does.
The tool-duration window is filled with `durations` samples of the shared trace first.

Apart from n: ``decision``, the TTL decision of the priced rule per finished turn
(``ContinuumPolicy.on_finish``: rule, caps, bookkeeping; no adapter, no lock) at
`durations` recorded durations, uncontended (price 1) and contended (price 0). As in
traffic each finish follows its program's arrival, which records a duration (untimed).
"""

from __future__ import annotations

import gc
import math
import random
from collections import deque
from dataclasses import asdict, dataclass

from sglang_continuum.adapter.controller import Controller
from sglang_continuum.adapter.settings import Settings

from . import clock as timing
from .fakes import SimClock, StubCache, make_req, tool_gaps
from .stats import growth_exponent, nlogn_exponent, spread



@dataclass(frozen=True)
class PolicySpec:
    programs: tuple[int, ...] = (100, 1_000, 10_000)
    durations: int = 10_000
    waiting_fraction: float = 0.1
    events_per_step: int = 1
    steps: int = 400
    warmup_steps: int = 50
    step_s: float = 0.02
    context_tokens: int = 40_000
    output_tokens: int = 500
    running: int = 16
    repeats: int = 3
    seed: int = 0

    def __post_init__(self):
        if not self.programs or min(self.programs) < 10:
            raise ValueError(f"PolicySpec.programs={self.programs!r}: expected sizes >= 10")
        for name in ("durations", "events_per_step", "steps", "repeats", "running"):
            if getattr(self, name) < 1:
                raise ValueError(f"PolicySpec.{name}: expected an int >= 1")
        if not 0 < self.waiting_fraction <= 1:
            raise ValueError("PolicySpec.waiting_fraction: expected a fraction in (0, 1]")


class _World:
    """One Controller with n programs cycling: paused (tool call) -> waiting -> running."""

    def __init__(self, spec: PolicySpec, n: int, gaps: list, gate_capacity: int = 0):
        self.spec, self.n = spec, n
        self.clock = SimClock(1_000.0)
        # Capacity large enough that no lock is refused: the bench measures the work,
        # the bounds are exercised by the unit tests. `gate_capacity`: a pool that
        # the resident programs fill, so the gate holds every new program.
        capacity = gate_capacity or 4 * n * (spec.context_tokens + spec.output_tokens)
        self.ctl = Controller(StubCache(), Settings(), capacity_tokens=capacity,
                              clock=self.clock)
        self.gaps = gaps
        self.rng = random.Random(f"world:{spec.seed}:{n}")
        self._seq = 0
        self._fill_durations()

    def _fill_durations(self) -> None:
        policy, key, t = self.ctl.policy, ("", "__durations__"), self.clock.now - 1e6
        for tool, gap in self.gaps:
            policy.on_finish(key, t, context_tokens=1, tool=tool, last_turn=False)
            t += gap
            policy.on_arrival(key, t)
        policy.on_finish(key, t, context_tokens=1, tool=None, last_turn=True)

    def req(self, program: str):
        self._seq += 1
        tool = self.gaps[self._seq % len(self.gaps)][0]
        return make_req(f"r{self._seq}", program, self.spec.context_tokens,
                        self.spec.output_tokens, tool=tool)

    def arrive(self, program: str):
        r = self.req(program)
        self.ctl.on_queued(r, False)
        return r

    @staticmethod
    def finish(ctl, r) -> None:
        r.done = True
        ctl.on_release(r, checkpointed=True)


def _bench_step(spec: PolicySpec, n: int, gaps: list) -> dict:
    w = _World(spec, n, gaps)
    ctl, clock, e = w.ctl, w.clock, spec.events_per_step
    programs = [f"p{i}" for i in range(n)]
    for p in programs:  # every program has finished one turn: a lock may be held
        r = w.arrive(p)
        ctl.on_admitted(r)
        w.finish(ctl, r)
        clock.now += spec.step_s / 10
    paused = deque(programs)
    running = deque()
    for _ in range(min(spec.running, n // 4)):
        r = w.arrive(paused.popleft())
        ctl.on_admitted(r)
        running.append(r)
    waiting = [w.arrive(paused.popleft()) for _ in range(max(1, int(n * spec.waiting_fraction)))]
    parts = {k: [] for k in ("tick", "sort", "admit", "finish", "arrive")}
    total = []
    gc.collect()
    for step in range(spec.warmup_steps + spec.steps):
        clock.now += spec.step_s
        t0 = timing.now()
        ctl.tick()
        t1 = timing.now()
        ctl.sort_waiting(waiting)
        t2 = timing.now()
        if ctl.gate is not None:
            ctl.gate.new_pass()
        for _ in range(e):
            r = waiting.pop(0)
            if ctl.gate is not None:
                ctl.gate_holds(r, False)  # a later turn: never held (not "park")
            ctl.on_admitted(r)
            running.append(r)
        t3 = timing.now()
        for _ in range(e):
            r = running.popleft()
            w.finish(ctl, r)
            paused.append(r.sampling_params.custom_params["program_id"])
        t4 = timing.now()
        for _ in range(e):
            waiting.append(w.arrive(paused.popleft()))
        t5 = timing.now()
        if step >= spec.warmup_steps:
            for k, a, b in (("tick", t0, t1), ("sort", t1, t2), ("admit", t2, t3),
                            ("finish", t3, t4), ("arrive", t4, t5)):
                parts[k].append((b - a) * 1e6)
            total.append((t5 - t0) * 1e6)
    snap = ctl.policy.snapshot()
    return {"mean_us": sum(total) / len(total), "median_us": _median(total),
            "parts_mean_us": {k: sum(v) / len(v) for k, v in parts.items()},
            "waiting": len(waiting), "active_locks": snap.active_locks,
            "duration_samples": snap.duration_samples}


def _bench_expiry(spec: PolicySpec, n: int, gaps: list) -> dict:
    w = _World(spec, n, gaps)
    ctl, clock, policy = w.ctl, w.clock, w.ctl.policy
    max_ttl = ctl.settings.policy.max_ttl_s
    rng = w.rng

    def lock(i: int) -> None:
        policy.set_lock(("", f"p{i}"), clock.now, rng.uniform(0.05, max_ttl),
                        spec.context_tokens, object())

    for i in range(n):
        lock(i)
    times, expired = [], 0
    gc.collect()
    for step in range(spec.warmup_steps + spec.steps):
        clock.now += spec.step_s
        before = len(policy._locks)
        t0 = timing.now()
        ctl.tick()
        dt = (timing.now() - t0) * 1e6
        gone = before - len(policy._locks)
        for j in range(gone):  # keep n locks live
            lock(n + step * n + j)
        if step >= spec.warmup_steps:
            times.append(dt)
            expired += gone
    return {"mean_us": sum(times) / len(times), "median_us": _median(times),
            "locks": len(policy._locks), "expired_per_step": expired / len(times)}


def _bench_queue(spec: PolicySpec, n: int, gaps: list) -> dict:
    w = _World(spec, n, gaps)
    ctl = w.ctl
    waiting = []
    for i in range(n):  # a third hold a lock, a few are retracted: every tier occurs
        r = w.req(f"p{i}")
        if i % 3 == 0:
            ctl.on_queued(r, False)
            ctl.on_admitted(r)
            w.finish(ctl, r)
            r = w.req(f"p{i}")
        r.is_retracted = i % 50 == 0
        ctl.on_queued(r, False)
        waiting.append(r)
        w.clock.now += 0.001
    w.rng.shuffle(waiting)
    ctl.sort_waiting(waiting)
    reps = max(5, min(200, 200_000 // n))
    times = []
    gc.collect()
    for _ in range(reps):
        # New arrivals join at the back, as in the scheduler: move one request there.
        waiting.append(waiting.pop(len(waiting) // 2))
        t0 = timing.now()
        ctl.sort_waiting(waiting)
        times.append((timing.now() - t0) * 1e6)
    med = _median(times)
    return {"median_us": med, "mean_us": sum(times) / len(times), "waiting": n,
            "per_request_us": med / n}


def _bench_ttl(spec: PolicySpec, n: int, gaps: list) -> dict:
    w = _World(spec, n, gaps)
    ctl, clock = w.ctl, w.clock
    reqs = []
    for i in range(n):
        r = w.arrive(f"p{i}")
        ctl.on_admitted(r)
        reqs.append(r)
    times = []
    gc.collect()
    for r in reqs[: max(200, min(n, 2_000))]:
        clock.now += 0.001
        r.done = True
        t0 = timing.now()
        ctl.on_release(r, checkpointed=True)
        times.append((timing.now() - t0) * 1e6)
    snap = ctl.policy.snapshot()
    return {"median_us": _median(times), "mean_us": sum(times) / len(times),
            "duration_samples": snap.duration_samples, "locks_set": snap.locks_set}


def _bench_gate(spec: PolicySpec, n: int, gaps: list) -> dict:
    w = _World(spec, n, gaps, gate_capacity=n * spec.context_tokens)
    ctl = w.ctl
    for i in range(n):  # n resident programs, each paused after its first turn
        r = w.arrive(f"p{i}")
        ctl.on_admitted(r)
        w.finish(ctl, r)
        w.clock.now += 0.001
    waiting = [w.arrive(f"new{i}") for i in range(max(1, int(n * spec.waiting_fraction)))]
    reps = max(5, min(200, 200_000 // n))
    times, held = [], 0
    gc.collect()
    for _ in range(reps):
        t0 = timing.now()
        ctl.gate.new_pass()
        holding = False
        for r in waiting:
            holding = ctl.gate_holds(r, holding) or holding
        times.append((timing.now() - t0) * 1e6)
        held = ctl.gate.held
    med = _median(times)
    return {"median_us": med, "mean_us": sum(times) / len(times), "waiting": len(waiting),
            "held": held, "residents": len(ctl.gate.residents),
            "per_request_us": med / len(waiting)}


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def _bench_decision(spec: PolicySpec, gaps: list, contended: bool) -> dict:
    """Median on_finish time (us) of a program cycling arrival -> finish, tools of the
    trace in turn, after `durations` recorded durations."""
    from sglang_continuum.core import ContinuumPolicy, PolicyConfig

    # The priced rule (memory priced by the contention gauge, contended locks for the
    # tool's top quantile): the most work a decision does. The default (memory free to
    # hold, contended locks until the tool returns) skips the table lookup.
    policy = ContinuumPolicy(PolicyConfig(contention_saturation=0.05,
                                          contended_ttl="quantile"), 1 << 40)
    key, t = ("", "__bench__"), 0.0
    for tool, gap in gaps:
        policy.on_finish(key, t, 1, tool, False)
        t += gap
        policy.on_arrival(key, t)
    gauge = policy._contention  # the state the rule prices memory by; no public setter
    for _ in range(64 if contended else 0):
        gauge.pressed()
        gauge.resumed()
    price = gauge.price()
    times = []
    gc.collect()
    for i in range(max(400, min(len(gaps), 4_000))):
        tool, gap = gaps[i % len(gaps)]
        t0 = timing.now()
        policy.on_finish(key, t, spec.context_tokens, tool, False)
        times.append((timing.now() - t0) * 1e6)
        t += gap
        policy.on_arrival(key, t)
    return {"median_us": _median(times), "mean_us": sum(times) / len(times),
            "price": price, "duration_samples": policy.snapshot().duration_samples}


def run_decision(spec: PolicySpec, log=print, gaps: list | None = None) -> dict:
    """The TTL decision per finished turn, uncontended and contended, `repeats` times."""
    gaps = gaps if gaps is not None else tool_gaps(spec.durations, spec.seed)
    out: dict = {"durations": spec.durations}
    for case, contended in (("uncontended", False), ("contended", True)):
        runs = [_bench_decision(spec, gaps, contended) for _ in range(spec.repeats)]
        out[case] = {"us": spread([r["median_us"] for r in runs]), "last": runs[-1]}
    log("  TTL decision (on_finish) at {:,} durations: uncontended {:.1f} us, contended "
        "{:.1f} us per turn (median of {} repeats)".format(
            spec.durations, out["uncontended"]["us"]["median"],
            out["contended"]["us"]["median"], spec.repeats))
    return out


BENCHES = {"step": _bench_step, "expiry": _bench_expiry, "queue": _bench_queue,
           "ttl": _bench_ttl, "gate": _bench_gate}


def run(spec: PolicySpec, log=print) -> dict:
    gaps = tool_gaps(spec.durations, spec.seed)
    out: dict = {"spec": asdict(spec), "sizes": {}}
    for n in spec.programs:
        per = {name: [] for name in BENCHES}
        for rep in range(spec.repeats):
            for name, fn in BENCHES.items():
                per[name].append(fn(spec, n, gaps))
        row = {}
        for name, runs in per.items():
            key = "mean_us" if name in ("step", "expiry") else "median_us"
            row[name] = {"us": spread([r[key] for r in runs]), "last": runs[-1]}
        out["sizes"][str(n)] = row
        log(f"  policy n={n}: step {row['step']['us']['median']:.1f} us "
            f"(tick {row['step']['last']['parts_mean_us']['tick']:.1f}, "
            f"sort {row['step']['last']['parts_mean_us']['sort']:.1f} over "
            f"{row['step']['last']['waiting']} waiting, "
            f"{row['step']['last']['active_locks']} locks); "
            f"expiry {row['expiry']['us']['median']:.1f} us/{n} locks; "
            f"queue {row['queue']['us']['median']:.0f} us/{n} waiting; "
            f"ttl {row['ttl']['us']['median']:.1f} us/turn; "
            f"gate {row['gate']['us']['median']:.0f} us/pass over "
            f"{row['gate']['last']['waiting']} new programs")
    out["decision"] = run_decision(spec, log, gaps)
    sizes = [int(n) for n in out["sizes"]]
    out["growth_exponent"] = {
        name: growth_exponent(sizes, [out["sizes"][str(n)][name]["us"]["median"] for n in sizes])
        for name in BENCHES}
    out["nlogn_exponent"] = nlogn_exponent(sizes) if len(sizes) > 1 else math.nan
    return out
