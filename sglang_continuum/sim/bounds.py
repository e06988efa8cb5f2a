"""A lower bound on a closed loop's mean JCT from what each program costs alone.

The no-contention floor (every program alone) says how fast a program can go; it does
not say how fast N of them can go together through an engine that runs at most
``slots`` requests at once (``--max-running-requests``) and holds at most ``pool``
tokens of KV. Issue 27's targets are ratios to the best stock arm (0.7x), so where 0.7x
of stock's mean lies below what capacity allows, no scheduler meets the target; this
module says where.

Each program is described by three figures measured alone (``Solo``):
- ``floor``: its JCT alone;
- ``service``: its seconds inside the engine, admission to finish, summed over its turns.
  With others beside it a turn is never faster (its prefix is at best as cached, a
  batched step is at best as fast);
- ``area``: token-seconds its contexts hold the device pool while decoding (the context's
  tokens times the decode's seconds). A decoding request's context is on the device,
  and a batched decode is at best as fast as a lone one;
- optionally ``compute``: the engine seconds of its turns that no batch shares (the
  simulator's per-token prefill and attention terms, the per-request decode terms: a
  step's fixed cost is what batching saves), and ``gaps``: per tool call, the context
  it pauses (tokens), the call's seconds and the engine seconds per token to bring the
  context back if it is not kept (0 where a host tier could reload it off the engine).
  Across a gap the context either holds the pool for the gap (tokens x seconds) or
  costs its rebuild; holding part of it is a mix of the two.

Relaxation: complete programs as fast as the resources allow, ignoring their order, tool
gaps and arrivals. k programs can all be complete by time t only if the k smallest
services fit ``slots`` machines by t (McNaughton: t >= the largest, and >= their sum /
slots), the k smallest areas fit the pool by t (sum / pool <= t), and k floors are
<= t. With ``compute`` and ``gaps``, the engine (one step at a time) and the pool share
the load: for any weight w in [0, 1], w x (area / pool) + (1 - w) x (engine seconds) of
the k programs is <= t, each gap paying the cheaper of holding and rebuilding at that
weight (the ``engine`` constraint, over a grid of weights). That gives the earliest
time tau_k by which k programs can be complete. In a
closed loop of ``concurrency`` programs at a time over P programs, the number in the
system is min(concurrency, P - completed), so the sum of JCTs is at least the sum of the
last ``concurrency`` tau's; and it is at least the sum of the floors. Every figure is
an upper bound on speed, so the result is a lower bound for any scheduler.

Pure: no sglang, no torch, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import accumulate


@dataclass(frozen=True, slots=True)
class Solo:
    floor: float
    service: float
    area: float = 0.0
    compute: float = 0.0
    gaps: tuple[tuple[float, float, float], ...] = ()  # (tokens, seconds, s per token)

    def __post_init__(self):
        for name in ("floor", "service", "area", "compute"):
            _check(f"Solo.{name}", getattr(self, name))
        for i, gap in enumerate(self.gaps):
            if len(gap) != 3:
                raise ValueError(f"Solo.gaps[{i}]={gap!r}: expected (tokens, seconds, "
                                 "rebuild seconds per token)")
            for v in gap:
                _check(f"Solo.gaps[{i}]", v)


def _check(name: str, v) -> None:
    if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
        raise ValueError(f"{name}={v!r}: must be a finite number >= 0")


@dataclass(frozen=True, slots=True)
class Bound:
    """Lower bounds on the mean JCT: ``mean`` (all constraints together) and each
    constraint's alone (``floor``, ``batch``: the slots, ``kv``: the pool, ``engine``:
    the engine's seconds and the pool together, with each gap's hold or rebuild)."""
    mean: float
    floor: float
    batch: float
    kv: float
    engine: float = 0.0

    @property
    def binding(self) -> str:
        """The constraint whose bound alone is the largest."""
        return max(("floor", "batch", "kv", "engine"), key=lambda k: getattr(self, k))


def _earliest(solos: list[Solo], slots: float, pool: float, use: tuple[str, ...]) -> list[float]:
    """tau_k, k = 1..P: the earliest time by which k programs can all be complete
    (``slots``: the engine's service rate, in programs' solo seconds per second)."""
    taus = [0.0] * len(solos)
    if "batch" in use:  # each program's own service counts, unbounded slots or not
        s = sorted(x.service for x in solos)
        taus = [max(t, v, total / slots) for t, v, total in zip(taus, s, accumulate(s))]
    if "kv" in use:
        a = sorted(x.area for x in solos)
        taus = [max(t, total / pool) for t, total in zip(taus, accumulate(a))]
    if "engine" in use:
        for w in _weights(pool):
            e = sorted(_engine_load(x, w, pool) for x in solos)
            taus = [max(t, total) for t, total in zip(taus, accumulate(e))]
    if "floor" in use:
        f = sorted(x.floor for x in solos)
        taus = [max(t, v) for t, v in zip(taus, f)]
    return taus


WEIGHTS = 20  # the grid of weights between the pool and the engine


def _weights(pool: float) -> list[float]:
    return [0.0] if pool == math.inf else [i / WEIGHTS for i in range(WEIGHTS + 1)]


def _engine_load(x: Solo, w: float, pool: float) -> float:
    """w x (the program's pool-seconds / pool) + (1 - w) x (its engine seconds), each
    gap at the cheaper of holding its context and rebuilding it."""
    per_pool = w / pool if pool < math.inf else 0.0
    load = per_pool * x.area + (1 - w) * x.compute
    return load + sum(tokens * min(per_pool * secs, (1 - w) * rebuild)
                      for tokens, secs, rebuild in x.gaps)


def _mean(solos: list[Solo], concurrency: int, slots: float, pool: float,
          use: tuple[str, ...]) -> float:
    taus = _earliest(solos, slots, pool, use)
    n = min(concurrency, len(solos))
    loop = sum(taus[len(solos) - n:])
    floors = sum(x.floor for x in solos) if "floor" in use else 0.0
    return max(loop, floors) / len(solos)


def mean_jct_bound(solos: list[Solo], concurrency: int, slots: float = math.inf,
                   pool: float = math.inf, rate: float | None = None) -> Bound:
    """The lower bound on the mean JCT of ``solos`` run ``concurrency`` at a time (a
    closed loop; all at once when concurrency >= len(solos)) through an engine of
    ``slots`` running requests and a device pool of ``pool`` tokens. ``rate``: the
    engine's service rate in solo seconds per second where it is known to be below
    ``slots`` (a CPU, whose batch of two does little more than one request alone); the
    bound then holds at that rate, not for any engine."""
    if not solos:
        raise ValueError("solos: need at least one program")
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency={concurrency!r}: must be an int >= 1")
    if rate is not None:
        if not (isinstance(rate, (int, float)) and rate > 0):
            raise ValueError(f"rate={rate!r}: must be a number > 0")
        slots = min(slots, rate)
    for name, v in (("slots", slots), ("pool", pool)):
        if not (isinstance(v, (int, float)) and v > 0):
            raise ValueError(f"{name}={v!r}: must be a number > 0 (math.inf: no limit)")
    return Bound(mean=_mean(solos, concurrency, slots, pool,
                            ("floor", "batch", "kv", "engine")),
                 floor=_mean(solos, concurrency, slots, pool, ("floor",)),
                 batch=_mean(solos, concurrency, slots, pool, ("batch",)),
                 kv=_mean(solos, concurrency, slots, pool, ("kv",)),
                 engine=_mean(solos, concurrency, slots, pool, ("engine",)))


def solos_from_turns(turns, programs=(), coefficients=None,
                     host_tier: bool = False) -> dict[str, Solo]:
    """Per program, its ``Solo`` from the turn records of a run where it was alone (the
    simulator's ``TurnRecord``: program_id, arrival, admitted, first_token, finish,
    prompt, hit, output). The floor is its first arrival to its last finish. With the
    programs (``ProgramSpec``: their turns' gaps) and the run's ``StepCoefficients``
    (``sim/predictor.py``) also its engine seconds and gaps; a gap's rebuild costs the
    prefill's per-token and attention terms, or nothing with a host tier (a reload may
    run beside the engine)."""
    by: dict[str, list] = {}
    for t in turns:
        by.setdefault(t.program_id, []).append(t)
    specs = {p.program_id: p for p in programs}
    out = {}
    for pid, ts in by.items():
        extra = {}
        if coefficients is not None and pid in specs:
            extra = dict(compute=sum(_unshared(t, coefficients) for t in ts),
                         gaps=tuple((t.prompt, t.gap_s, 0.0 if host_tier else
                                     coefficients.b + coefficients.c * t.prompt)
                                    for t in specs[pid].turns if t.gap_s > 0))
        out[pid] = Solo(floor=max(t.finish for t in ts) - min(t.arrival for t in ts),
                        service=sum(t.finish - t.admitted for t in ts),
                        area=sum(t.prompt * (t.finish - t.first_token) for t in ts), **extra)
    return out


def _unshared(t, k) -> float:
    """A turn's engine seconds no batch shares: its prefill's per-token, attention and
    prefix terms (b n + c n (2m + n) + e m for n new tokens on m cached), and its decode
    steps' per-request terms (d1 + d2 x context each, after the first token)."""
    n, m = t.prompt - t.hit, t.hit
    steps = max(0, t.output - 1)
    return (k.b * n + k.c * n * (2 * m + n) + k.e * m
            + steps * k.d1 + k.d2 * (steps * t.prompt + steps * (steps - 1) / 2))
