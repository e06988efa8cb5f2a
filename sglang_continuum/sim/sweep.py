"""Run one simulation or a grid of them (tqdm progress, optional worker processes)."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache

from .metrics import Summary
from .profiles import load_profile
from .simulator import Simulator
from .workload import load_workload, poisson_arrivals


@dataclass(frozen=True)
class RunSpec:
    workload: str
    profile: str
    policy: str
    rate: float
    seed: int = 0
    programs: int | None = None
    host_tier: bool = False
    overrides: tuple[tuple[str, float], ...] = field(default=())  # synthetic Stats fields
    label: str = ""
    concurrency: int | None = None  # closed loop (programs at a time); rate then unused
    host_ratio: float = float("inf")  # host tier size / device pool (--hicache-ratio)
    write_through: bool = False     # HiCache write policy (else write_back)
    kv_capacity: int | None = None  # device KV tokens, replacing the profile's
    max_running: int | None = None  # running-batch cap (--max-running-requests), ditto


@lru_cache(maxsize=16)
def _programs(workload: str, programs: int | None, seed: int, overrides: tuple):
    return tuple(load_workload(workload, programs, seed, **dict(overrides)))


def run_one(spec: RunSpec) -> Summary:
    progs = _programs(spec.workload, spec.programs, spec.seed, spec.overrides)
    arrivals = None if spec.concurrency else poisson_arrivals(len(progs), spec.rate, spec.seed)
    profile = load_profile(spec.profile)
    if spec.kv_capacity is not None:
        profile = replace(profile, kv_capacity_tokens=spec.kv_capacity)
    if spec.max_running is not None:
        profile = replace(profile, max_running=spec.max_running)
    sim = Simulator(progs, arrivals, profile, spec.policy,
                    host_tier=spec.host_tier, concurrency=spec.concurrency,
                    host_capacity=spec.host_ratio * profile.kv_capacity_tokens,
                    write_through=spec.write_through)
    return sim.run(dict(workload=spec.label or spec.workload, profile=spec.profile,
                        policy=spec.policy, rate=spec.rate, seed=spec.seed))


def sweep(specs: list[RunSpec], jobs: int = 1, progress: bool = True) -> list[Summary]:
    """Summaries in the order of ``specs`` (deterministic whatever ``jobs`` is)."""
    from tqdm import tqdm

    bar = tqdm(total=len(specs), disable=not progress, desc="sim", unit="run")
    out: list[Summary] = []
    if jobs <= 1:
        for spec in specs:
            out.append(run_one(spec))
            bar.update()
    else:
        with ProcessPoolExecutor(jobs) as pool:
            for summary in pool.map(run_one, specs):
                out.append(summary)
                bar.update()
    bar.close()
    return out
