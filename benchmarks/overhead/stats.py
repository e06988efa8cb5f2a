"""Summaries shared by the three parts: spreads, ratios and a growth exponent."""

from __future__ import annotations

import math
import statistics
from typing import Sequence


def spread(values: Sequence[float]) -> dict:
    """{"min", "median", "max", "n"} of a non-empty sequence."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("spread: expected at least one value")
    return {"min": min(vals), "median": statistics.median(vals), "max": max(vals),
            "n": len(vals)}


def ratios(overlay: Sequence[float], stock: Sequence[float]) -> list[float]:
    """Pairwise overlay/stock per repeat (repeat i of one arm against repeat i of the other)."""
    if len(overlay) != len(stock):
        raise ValueError(f"ratios: {len(overlay)} overlay values vs {len(stock)} stock")
    return [o / s if s > 0 else math.nan for o, s in zip(overlay, stock)]


def growth_exponent(sizes: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of log(value) on log(size): 1 is linear, 2 quadratic."""
    pts = [(math.log(n), math.log(v)) for n, v in zip(sizes, values) if n > 0 and v > 0]
    if len(pts) < 2:
        return math.nan
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    sxy = sum((x - mx) * (y - my) for x, y in pts)
    return sxy / sxx if sxx > 0 else math.nan


def nlogn_exponent(sizes: Sequence[float]) -> float:
    """The exponent that n*log(n) itself fits over `sizes` (the bound to compare with)."""
    return growth_exponent(sizes, [n * math.log(n) for n in sizes])
