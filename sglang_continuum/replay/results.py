"""What a replay measured, per turn and per program, and the run's summary.

Times are seconds from the run's start (the injected clock). JCT = the program's last
turn finished - the program's arrival (tool gaps included, as in the paper).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class TurnResult:
    index: int
    start_s: float
    ttft_s: float
    e2e_s: float                 # client-side: request sent -> last token received
    queue_s: float               # server meta_info queue_time, else the TTFT
    queue_source: str            # "server" or "ttft"
    sent_tokens: int             # len(input_ids) sent
    prompt_tokens: int           # server meta_info (equals sent_tokens on SGLang)
    cached_tokens: int
    completion_tokens: int
    server_e2e_s: float | None = None
    retractions: int = 0         # server meta_info num_retractions (preemptions)


@dataclass
class ProgramResult:
    program_id: str
    arrival_s: float
    planned_turns: int
    turns: list[TurnResult] = field(default_factory=list)
    end_s: float | None = None
    error: str | None = None
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        return self.end_s is not None and self.error is None \
            and len(self.turns) == self.planned_turns

    @property
    def jct_s(self) -> float | None:
        return self.end_s - self.arrival_s if self.complete else None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["turns"] = [asdict(t) for t in list(self.turns)]
        d["jct_s"], d["complete"] = self.jct_s, self.complete
        return d


def _q(xs, q) -> float | None:
    return float(np.percentile(xs, q)) if len(xs) else None


def _mean(xs) -> float | None:
    return float(np.mean(xs)) if len(xs) else None


def summarize(programs: list[ProgramResult]) -> dict:
    """JCT mean/p50/p90/p95/p99, programs/min, tokens/s, cache-hit ratio, TTFT, queue."""
    done = [p for p in programs if p.complete]
    jct = [p.jct_s for p in done]
    turns = [t for p in programs for t in list(p.turns)]
    ends = [p.end_s for p in done] or [t.start_s + t.e2e_s for t in turns]
    starts = [p.arrival_s for p in programs if p.turns]
    span = (max(ends) - min(starts)) if ends and starts else 0.0
    prompt = sum(t.prompt_tokens for t in turns)
    cached = sum(t.cached_tokens for t in turns)
    out_tok = sum(t.completion_tokens for t in turns)
    ttft = [t.ttft_s for t in turns]
    queue = [t.queue_s for t in turns]
    return {
        "programs": len(programs), "completed": len(done),
        "errors": sum(1 for p in programs if p.error),
        "interrupted": sum(1 for p in programs if p.interrupted), "turns": len(turns),
        "jct_mean_s": _mean(jct), "jct_p50_s": _q(jct, 50), "jct_p90_s": _q(jct, 90),
        "jct_p95_s": _q(jct, 95), "jct_p99_s": _q(jct, 99),
        "jct_max_s": max(jct) if jct else None,
        "ttft_mean_s": _mean(ttft), "ttft_p95_s": _q(ttft, 95), "ttft_p99_s": _q(ttft, 99),
        "queue_mean_s": _mean(queue), "queue_p95_s": _q(queue, 95),
        "e2e_mean_s": _mean([t.e2e_s for t in turns]),
        "makespan_s": span,
        "programs_per_min": len(done) / span * 60 if span > 0 else None,
        "output_tokens_per_s": out_tok / span if span > 0 else None,
        "prompt_tokens_per_s": prompt / span if span > 0 else None,
        "prompt_tokens": prompt, "cached_tokens": cached, "completion_tokens": out_tok,
        "cache_hit_ratio": cached / prompt if prompt else None,
        "retractions": sum(t.retractions for t in turns),
    }
