"""What the TTL rules estimate from what the core sees: tool-call durations, the queueing
delay T, the predictability eta, and the time to rebuild (prefill or reload) a context.
Pure: no clock, every sample passed in.

Tool-call durations
-------------------
Tool-call duration statistics: per-tool and global sliding windows, kept sorted.

Queueing delay T and predictability eta
---------------------------------------
Online estimates feeding the gain term: queueing delay T and predictability eta.

Rebuild time
------------
Prefill (or reload) time model: seconds = a + b*n + c*n^2 for n context tokens.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np


# Tool-call durations -----------------------------------------------------------------

class SortedWindow:
    """The last `size` values in arrival order, also kept in a sorted numpy buffer.

    The buffer lets choose_ttl scan 10k samples in tens of microseconds without copying.
    Insert and evict are one memmove each. The arrival order is a numpy ring, so a full
    window costs 16 bytes per value (8 sorted, 8 in order), not a Python float each.
    """

    __slots__ = ("_size", "_ring", "_head", "_buf", "_n", "_view", "adds", "memo",
                 "owner", "run")

    def __init__(self, size: int) -> None:
        self._size = size
        start = min(size, 64)
        self._ring = np.empty(start, dtype=np.float64)  # arrival order, oldest at _head
        self._head = 0
        self._buf = np.empty(start, dtype=np.float64)
        self._n = 0
        self._view: np.ndarray | None = None  # sorted()'s answer until the next add()
        self.adds = 0      # values added since construction (a version stamp)
        self.memo = None   # a reader's derived state (e.g. a PricedTable), its own to refresh
        self.owner = None  # a writer's label of the newest values (ToolStats: the tenant)
        self.run = 0       # how many of the newest values in a row carry that label

    def __len__(self) -> int:
        return self._n

    def add(self, value: float) -> None:
        self._view = None
        self.adds += 1
        buf = self._buf
        if self._n == self._size:  # full: the ring's oldest value makes room
            head = self._head
            old = self._ring[head]
            self._ring[head] = value
            self._head = (head + 1) % self._size
            # Remove the oldest and insert the new value in one move: only the values
            # between the two places shift, by one (a full window's every add).
            view = buf[:self._n]
            j = int(view.searchsorted(old, side="left"))
            i = int(view.searchsorted(value, side="right"))
            if i <= j:  # buf[i:j] are > value: they move up over the old value
                buf[i + 1:j + 1] = buf[i:j]
                buf[i] = value
            else:  # buf[j+1:i] are <= value: they move down over the old value
                buf[j:i - 1] = buf[j + 1:i]
                buf[i - 1] = value
            return
        n = self._n  # not yet full: the ring is filled from 0, in order
        if n == len(self._ring):
            ring = np.empty(min(2 * n, self._size), dtype=np.float64)
            ring[:n] = self._ring[:n]
            self._ring = ring
        self._ring[n] = value
        if n == len(buf):
            buf = np.empty(min(2 * n, self._size), dtype=np.float64)
            buf[:n] = self._buf[:n]
            self._buf = buf
        i = int(buf[:n].searchsorted(value, side="right"))
        buf[i + 1:n + 1] = buf[i:n]
        buf[i] = value
        self._n = n + 1

    def sorted(self) -> np.ndarray:
        """Read-only view of the sorted values; valid until the next add()."""
        view = self._view
        if view is None:
            view = self._view = self._buf[:self._n]
            view.flags.writeable = False
        return view

    def quantile(self, q: float) -> float:
        """Nearest-rank quantile (the smallest value with at least q of the mass)."""
        if self._n == 0:
            return math.nan
        return float(self._buf[max(0, math.ceil(q * self._n) - 1)])


class ToolStats:
    """Durations of tool calls, per tool and overall, over sliding windows, shared by
    every tenant and per tenant.

    `cold_start_samples` (K) picks the CDF: a tool's own window once it holds more than
    K samples, the global window before that (and for unknown tools).
    At most `max_tools` tool windows of `tool_window` samples (default: `window`) are
    kept; the least recently recorded goes first. Tool names come from clients, so this
    bounds the memory: at most 16 bytes x (window + max_tools x tool_window), plus the
    names (64 characters at most).

    Per tenant. The shared windows mix every tenant's durations, so one tenant's traffic
    would move the TTLs of all. Each tenant (a bounded string, core/tenants.py) also
    keeps windows of its own: one for each of its last `tenant_tools` tools (None: all
    its durations), of `tenant_window` samples, for the last `max_tenants` tenants
    recorded (at most 16 bytes x max_tenants x tenant_tools x tenant_window more). A
    tenant reads its own window of a tool once it holds more than K samples; before
    that the shared windows are its prior. A shared window that holds only this
    tenant's durations is read instead of its own (the same samples, more of them), so
    a server with one tenant decides as with shared windows alone.
    """

    def __init__(self, window: int, cold_start_samples: int, max_tools: int = 1024,
                 tool_window: int | None = None, tenant_window: int = 512,
                 tenant_tools: int = 8, max_tenants: int = 32) -> None:
        self._window = window if tool_window is None else tool_window
        self._k = cold_start_samples
        self._max_tools = max_tools
        self._global = SortedWindow(window)
        self._tools: OrderedDict[str, SortedWindow] = OrderedDict()
        self._total = 0
        self._tenant_window = tenant_window
        self._tenant_tools = tenant_tools
        self._max_tenants = max_tenants
        # tenant -> its windows by tool (None: all its durations), least recent first
        self._tenants: OrderedDict[str, OrderedDict[str | None, SortedWindow]] = \
            OrderedDict()

    def record(self, tool: str | None, seconds: float, tenant: str | None = None) -> None:
        """Add one duration (of `tenant`, None: no tenant's own windows); NaN/inf are
        ignored, negatives (clock skew) count as 0."""
        if not math.isfinite(seconds):
            return
        seconds = max(0.0, float(seconds))
        self._add_shared(self._global, seconds, tenant)
        self._total += 1
        if tenant is not None:
            self._record_own(tenant, tool, seconds)
        if tool is None:
            return
        window = self._tools.get(tool)
        if window is None:
            if len(self._tools) >= self._max_tools:
                self._tools.popitem(last=False)
            window = self._tools[tool] = SortedWindow(self._window)
        else:
            self._tools.move_to_end(tool)
        self._add_shared(window, seconds, tenant)

    @staticmethod
    def _add_shared(window: SortedWindow, seconds: float, tenant: str | None) -> None:
        window.add(seconds)
        if window.owner == tenant:
            window.run += 1
        else:
            window.owner, window.run = tenant, 1

    def _record_own(self, tenant: str, tool: str | None, seconds: float) -> None:
        own = self._tenants.get(tenant)
        if own is None:
            if len(self._tenants) >= self._max_tenants:
                self._tenants.popitem(last=False)
            own = self._tenants[tenant] = OrderedDict()
        else:
            self._tenants.move_to_end(tenant)
        # The tool's window first, the tenant's all-durations window last: the latter is
        # then the most recent and never the one a new tool evicts.
        for name in ((tool, None) if tool is not None else (None,)):
            window = own.get(name)
            if window is None:
                if len(own) >= self._tenant_tools:
                    own.popitem(last=False)
                window = own[name] = SortedWindow(self._tenant_window)
            else:
                own.move_to_end(name)
            window.add(seconds)

    def sorted_samples(self, tool: str | None, tenant: str | None = None) -> np.ndarray:
        """The sorted samples the cost model should use for `tool` (cold-start rule)."""
        return self.window(tool, tenant).sorted()

    def window(self, tool: str | None, tenant: str | None = None) -> SortedWindow:
        """The window sorted_samples(tool, tenant) reads: the tool's own past K samples,
        else the global one; for a tenant, its own window of the tool (tool None: of all
        its durations) past K samples first, unless that shared window is all its own."""
        shared = self._tools.get(tool) if tool is not None else self._global
        if shared is not None and len(shared) <= self._k:
            shared = None
        if tenant is not None and not self._sole(shared, tenant):
            own = self._tenants.get(tenant)
            window = own.get(tool) if own is not None else None
            if window is not None and len(window) > self._k:
                return window
        return shared if shared is not None else self._global

    @staticmethod
    def _sole(window: SortedWindow | None, tenant: str) -> bool:
        """Whether every sample `window` holds is `tenant`'s."""
        return window is not None and window.owner == tenant and window.run >= len(window)

    def quantile(self, tool: str | None, q: float, tenant: str | None = None) -> float:
        """Nearest-rank q-quantile of the window sorted_samples(tool, tenant) reads
        (NaN: none)."""
        return self.window(tool, tenant).quantile(q)

    def horizon(self, q: float, prior_mean_s: float, cap_s: float) -> float:
        """The global window's q-quantile (Exp(prior_mean_s)'s before any samples),
        at most cap_s."""
        value = self._global.quantile(q)
        if not value >= 0:  # NaN: no samples
            value = -prior_mean_s * math.log(1.0 - q)
        return min(value, cap_s)

    def count(self, tool: str | None, tenant: str | None = None) -> int:
        """Samples held for `tool` (None: the global window; with `tenant`, in that
        tenant's own windows)."""
        if tenant is not None:
            own = self._tenants.get(tenant)
            window = own.get(tool) if own is not None else None
            return len(window) if window is not None else 0
        if tool is None:
            return len(self._global)
        window = self._tools.get(tool)
        return len(window) if window is not None else 0

    def tenants(self) -> int:
        """Tenants with windows of their own."""
        return len(self._tenants)

    def total(self) -> int:
        """Durations recorded since construction (not capped by the window)."""
        return self._total

    def estimates(self) -> dict[str, tuple[int, float, float]]:
        """Per tool (the shared windows): (samples held, p50 seconds, p90 seconds)."""
        return {tool: (len(w), w.quantile(0.5), w.quantile(0.9))
                for tool, w in self._tools.items()}


# Queueing delay T and predictability eta ---------------------------------------------

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


# Rebuild time ------------------------------------------------------------------------

@dataclass(frozen=True)
class PrefillModel:
    """Seconds to rebuild the KV cache of `n` tokens. Coefficients are non-negative."""

    a: float = 0.0
    b: float = 0.0
    c: float = 0.0

    def __post_init__(self) -> None:
        for name in ("a", "b", "c"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"PrefillModel.{name}: expected a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"PrefillModel.{name}: expected a finite number >= 0, got {value!r}"
                )

    def seconds(self, tokens: int) -> float:
        n = max(0, tokens)
        return self.a + self.b * n + self.c * n * n

    def to_dict(self) -> dict[str, float]:
        return {"a": self.a, "b": self.b, "c": self.c}

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> PrefillModel:
        unknown = set(data) - {"a", "b", "c"}
        if unknown:
            raise ValueError(
                f"PrefillModel: unknown keys {sorted(unknown)}; accepted keys are a, b, c"
            )
        return cls(**{k: float(v) for k, v in data.items()})

    @classmethod
    def fit(cls, samples: Sequence[tuple[int, float]]) -> PrefillModel:
        """Non-negative least squares fit of (tokens, seconds) samples.

        Three unknowns, so the exact NNLS optimum is found by solving the unconstrained
        problem on every subset of coefficients and keeping the best feasible one.
        """
        points = [(float(n), float(s)) for n, s in samples]
        if not points:
            raise ValueError("PrefillModel.fit: expected at least one (tokens, seconds) sample")
        if any(n < 0 or not math.isfinite(n) or not math.isfinite(s) for n, s in points):
            raise ValueError("PrefillModel.fit: samples must be finite, with tokens >= 0")
        # Columns are scaled to [0, 1] so that n^2 does not ruin the normal equations.
        scale = max(n for n, _ in points) or 1.0
        rows = [(1.0, n / scale, (n / scale) ** 2) for n, _ in points]
        ys = [s for _, s in points]
        best, best_sse = (0.0, 0.0, 0.0), sum(y * y for y in ys)
        for size in (1, 2, 3):
            for cols in itertools.combinations(range(3), size):
                coef = _least_squares([[r[j] for j in cols] for r in rows], ys)
                if coef is None or any(x < 0 for x in coef):
                    continue
                full = [0.0, 0.0, 0.0]
                for j, x in zip(cols, coef):
                    full[j] = x
                sse = sum((y - sum(f * r for f, r in zip(full, row))) ** 2
                          for row, y in zip(rows, ys))
                if sse < best_sse - 1e-15 * (1.0 + best_sse):
                    best, best_sse = tuple(full), sse
        return cls(best[0], best[1] / scale, best[2] / (scale * scale))


def _least_squares(rows: list[list[float]], ys: list[float]) -> list[float] | None:
    """Solve the normal equations by Gaussian elimination; None when singular."""
    k = len(rows[0])
    m = [[sum(r[i] * r[j] for r in rows) for j in range(k)]
         + [sum(r[i] * y for r, y in zip(rows, ys))] for i in range(k)]
    for col in range(k):
        pivot = max(range(col, k), key=lambda i: abs(m[i][col]))
        if abs(m[pivot][col]) < 1e-12:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        for i in range(k):
            if i != col:
                f = m[i][col] / m[col][col]
                m[i] = [a - f * b for a, b in zip(m[i], m[col])]
    return [m[i][k] / m[i][i] for i in range(k)]
