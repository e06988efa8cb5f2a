"""Open-loop arrival times shared by the replay and the simulator."""

from __future__ import annotations

import math
import random


def poisson_arrivals(n: int, rate: float, seed: int) -> list[float]:
    """``n`` arrival offsets (seconds, the first at 0) of a Poisson process of ``rate``
    per second; the same ``seed`` gives the same times, and a prefix for a smaller ``n``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n={n!r}: expected an integer >= 0")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) \
            or not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"rate={rate!r}: expected a finite number > 0 (arrivals per second)")
    rng = random.Random(f"arrivals:{seed}")
    t, times = 0.0, []
    for _ in range(n):
        times.append(t)
        t += rng.expovariate(rate)
    return times
