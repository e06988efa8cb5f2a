"""Online estimates feeding the gain term: queueing delay T and predictability eta."""

from __future__ import annotations

import math
from collections import deque


class QueueDelayWindow:
    """Sliding-window mean of the queueing delay that evicted requests experienced (T)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"QueueDelayWindow.size: expected an integer >= 1, got {size!r}")
        self._values: deque[float] = deque(maxlen=size)
        self._sum = 0.0
        self._adds = 0

    def add(self, seconds: float) -> None:
        """Add one delay; NaN/inf are ignored and negatives count as 0."""
        if not math.isfinite(seconds):
            return
        seconds = max(0.0, float(seconds))
        if len(self._values) == self._values.maxlen:
            self._sum -= self._values[0]
        self._values.append(seconds)
        self._sum += seconds
        self._adds += 1
        if self._adds % self._values.maxlen == 0:
            self._sum = math.fsum(self._values)  # bound floating-point drift

    def mean(self) -> float:
        return self._sum / len(self._values) if self._values else 0.0

    def __len__(self) -> int:
        return len(self._values)


class EtaEstimator:
    """eta = -Corr(k, N - k) over the pairs k = 1..N of every finished program.

    Kept as exact integer moment sums, O(1) memory. 1.0 before there is any variance
    (the paper's cold start); clamped to [0, 1].
    """

    def __init__(self) -> None:
        self._n = self._sx = self._sy = self._sxx = self._syy = self._sxy = 0
        self._eta = 1.0

    def add_program(self, total_turns: int, count: int = 1) -> None:
        """Record `count` finished programs of `total_turns` turns each."""
        big_n = int(total_turns)
        if big_n < 1 or count < 1:
            return
        sk = big_n * (big_n + 1) // 2
        skk = big_n * (big_n + 1) * (2 * big_n + 1) // 6
        self._n += count * big_n
        self._sx += count * sk
        self._sy += count * (big_n * big_n - sk)
        self._sxx += count * skk
        self._syy += count * ((big_n - 1) * big_n * (2 * big_n - 1) // 6)
        self._sxy += count * (big_n * sk - skk)
        self._eta = self._compute()

    def _compute(self) -> float:
        vx = self._n * self._sxx - self._sx * self._sx
        vy = self._n * self._syy - self._sy * self._sy
        if vx <= 0 or vy <= 0:
            return 1.0
        cov = self._n * self._sxy - self._sx * self._sy
        corr = cov / math.sqrt(vx) / math.sqrt(vy)
        return min(1.0, max(0.0, -corr))

    def eta(self) -> float:
        return self._eta
