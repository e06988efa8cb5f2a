"""The in-process parts time with the calling thread's CPU clock.

On a shared 2-core machine a wall clock mostly measures the other tenants: a
preempted call looks hundreds of times slower. Thread CPU time counts only this
thread's work; torch is limited to this thread (``torch.set_num_threads(1)``) so
no work escapes into a pool thread. ``--wall`` switches back to perf_counter.
"""

from __future__ import annotations

import time

_clock = time.thread_time


def use_wall_clock(wall: bool) -> None:
    global _clock
    _clock = time.perf_counter if wall else time.thread_time


def now() -> float:
    return _clock()


def name() -> str:
    return "perf_counter (wall)" if _clock is time.perf_counter else "thread_time (CPU)"


def overhead_s(samples: int = 2_000) -> float:
    """Median cost of one reading (a timed interval pays it once)."""
    c = _clock
    xs = []
    for _ in range(samples):
        a = c()
        b = c()
        xs.append(b - a)
    xs.sort()
    return xs[len(xs) // 2]
