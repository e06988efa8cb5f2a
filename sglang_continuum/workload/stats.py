"""Summary statistics of a workload (what the paper's workload table reports)."""

from __future__ import annotations

import statistics

from .program import Program


def _mean_std(xs: list[float]) -> tuple[float, float]:
    if not xs:
        return 0.0, 0.0
    return statistics.fmean(xs), (statistics.pstdev(xs) if len(xs) > 1 else 0.0)


def describe(programs: list[Program]) -> dict:
    """Mean/std of turns, tool time (ms, per gap) and prompt tokens per program."""
    turns = [len(p.turns) for p in programs]
    gaps = [t.gap_s * 1000 for p in programs for t in p.turns[:-1]]
    tokens = [p.prompt_tokens for p in programs]
    out = {"programs": len(programs)}
    for name, xs in (("turns", turns), ("tool_ms", gaps), ("tokens", tokens)):
        m, s = _mean_std(xs)
        out[f"{name}_mean"], out[f"{name}_std"] = round(m, 3), round(s, 3)
    out["tool_ms_p50"] = round(statistics.median(gaps), 3) if gaps else 0.0
    out["max_prompt"] = max((t.prompt for p in programs for t in p.turns), default=0)
    return out
