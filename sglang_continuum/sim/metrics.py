"""Per-turn and per-program records, and the run summary (emittable as JSON)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, slots=True)
class TurnRecord:
    program_id: str
    turn: int
    arrival: float
    admitted: float
    first_token: float
    finish: float
    prompt: int
    hit: int
    output: int
    retractions: int

    @property
    def ttft(self) -> float:
        return self.first_token - self.arrival

    @property
    def queued(self) -> float:
        return self.admitted - self.arrival


@dataclass(frozen=True, slots=True)
class ProgramRecord:
    program_id: str
    arrival: float
    finish: float
    turns: int
    aborted: bool = False

    @property
    def jct(self) -> float:
        return self.finish - self.arrival


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) of ``values``; nan if empty."""
    if not values:
        return math.nan
    v = sorted(values)
    pos = (len(v) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


@dataclass(frozen=True)
class Summary:
    workload: str
    profile: str
    policy: str
    rate: float
    seed: int
    programs: int
    turns: int
    jct_mean: float
    jct_p50: float
    jct_p90: float
    jct_p95: float
    jct_p99: float
    ttft_mean: float
    ttft_p95: float
    queue_mean: float
    programs_per_min: float
    tokens_per_s: float
    cache_hit_ratio: float
    makespan_s: float
    retractions: int
    deadlocks: int
    forced_lock_drops: int
    aborted_programs: int
    evicted_tokens: int
    host_written_tokens: int = 0
    # per-program mean seconds: queue (arrival to admission), prefill (admission to
    # first token: reload and prefill), decode (first token to finish), tool (gaps)
    breakdown: dict = field(default_factory=dict)
    policy_snapshot: dict = field(default_factory=dict)
    sim_wall_s: float = 0.0
    sim_requests_per_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(meta: dict, turns: list[TurnRecord], programs: list[ProgramRecord],
              counters: dict) -> Summary:
    done = [p for p in programs if not p.aborted]
    jcts = [p.jct for p in done]
    ttfts = [t.ttft for t in turns]
    start = min((p.arrival for p in programs), default=0.0)
    end = max((p.finish for p in programs), default=0.0)
    span = max(end - start, 1e-9)
    prompt = sum(t.prompt for t in turns)
    n = max(len(programs), 1)
    span_of = {p.program_id: p.jct for p in programs}
    busy = sum(t.finish - t.arrival for t in turns)
    breakdown = dict(queue_s=sum(t.queued for t in turns) / n,
                     prefill_s=sum(t.first_token - t.admitted for t in turns) / n,
                     decode_s=sum(t.finish - t.first_token for t in turns) / n,
                     tool_s=(sum(span_of.values()) - busy) / n)
    tokens = prompt + sum(t.output for t in turns)
    return Summary(
        programs=len(programs), turns=len(turns),
        jct_mean=sum(jcts) / len(jcts) if jcts else math.nan,
        jct_p50=percentile(jcts, 50), jct_p90=percentile(jcts, 90),
        jct_p95=percentile(jcts, 95), jct_p99=percentile(jcts, 99),
        ttft_mean=sum(ttfts) / len(ttfts) if ttfts else math.nan,
        ttft_p95=percentile(ttfts, 95),
        queue_mean=sum(t.queued for t in turns) / len(turns) if turns else math.nan,
        programs_per_min=len(done) / span * 60, tokens_per_s=tokens / span,
        cache_hit_ratio=sum(t.hit for t in turns) / prompt if prompt else 0.0,
        makespan_s=span, breakdown=breakdown, **meta, **counters)
