"""Tool-call duration statistics: per-tool and global sliding windows, kept sorted."""

from __future__ import annotations

import math
from collections import OrderedDict, deque

import numpy as np


class SortedWindow:
    """The last `size` values in arrival order, also kept in a sorted numpy buffer.

    The buffer lets choose_ttl scan 10k samples in tens of microseconds without copying.
    Insert and evict are one memmove each.
    """

    __slots__ = ("_size", "_order", "_buf", "_n", "_view", "adds", "memo")

    def __init__(self, size: int) -> None:
        self._size = size
        self._order: deque[float] = deque()
        self._buf = np.empty(min(size, 64), dtype=np.float64)
        self._n = 0
        self._view: np.ndarray | None = None  # sorted()'s answer until the next add()
        self.adds = 0      # values added since construction (a version stamp)
        self.memo = None   # a reader's derived state (e.g. a PricedTable), its own to refresh

    def __len__(self) -> int:
        return self._n

    def add(self, value: float) -> None:
        self._view = None
        self.adds += 1
        if self._n == self._size:
            self._remove(self._order.popleft())
        self._order.append(value)
        n, buf = self._n, self._buf
        if n == len(buf):
            buf = np.empty(min(2 * n, self._size), dtype=np.float64)
            buf[:n] = self._buf[:n]
            self._buf = buf
        i = int(np.searchsorted(buf[:n], value, side="right"))
        buf[i + 1:n + 1] = buf[i:n]
        buf[i] = value
        self._n = n + 1

    def _remove(self, value: float) -> None:
        n, buf = self._n, self._buf
        i = int(np.searchsorted(buf[:n], value, side="left"))
        buf[i:n - 1] = buf[i + 1:n]
        self._n = n - 1

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
    """Durations of tool calls, per tool and overall, over sliding windows.

    `cold_start_samples` (K) picks the CDF: a tool's own window once it holds more than
    K samples, the global window before that (and for unknown tools).
    At most `max_tools` tool windows are kept; the least recently recorded goes first.
    """

    def __init__(self, window: int, cold_start_samples: int, max_tools: int = 1024) -> None:
        self._window = window
        self._k = cold_start_samples
        self._max_tools = max_tools
        self._global = SortedWindow(window)
        self._tools: OrderedDict[str, SortedWindow] = OrderedDict()
        self._total = 0

    def record(self, tool: str | None, seconds: float) -> None:
        """Add one duration; NaN/inf are ignored, negatives (clock skew) count as 0."""
        if not math.isfinite(seconds):
            return
        seconds = max(0.0, float(seconds))
        self._global.add(seconds)
        self._total += 1
        if tool is None:
            return
        window = self._tools.get(tool)
        if window is None:
            if len(self._tools) >= self._max_tools:
                self._tools.popitem(last=False)
            window = self._tools[tool] = SortedWindow(self._window)
        else:
            self._tools.move_to_end(tool)
        window.add(seconds)

    def sorted_samples(self, tool: str | None) -> np.ndarray:
        """The sorted samples the cost model should use for `tool` (cold-start rule)."""
        return self.window(tool).sorted()

    def window(self, tool: str | None) -> SortedWindow:
        """The window sorted_samples(tool) reads: the tool's own past K samples, else the
        global one."""
        window = self._tools.get(tool) if tool is not None else None
        if window is not None and len(window) > self._k:
            return window
        return self._global

    def quantile(self, tool: str | None, q: float) -> float:
        """Nearest-rank q-quantile of the window sorted_samples(tool) reads (NaN: none)."""
        window = self._tools.get(tool) if tool is not None else None
        if window is None or len(window) <= self._k:
            window = self._global
        return window.quantile(q)

    def horizon(self, q: float, prior_mean_s: float, cap_s: float) -> float:
        """The global window's q-quantile (Exp(prior_mean_s)'s before any samples),
        at most cap_s."""
        value = self._global.quantile(q)
        if not value >= 0:  # NaN: no samples
            value = -prior_mean_s * math.log(1.0 - q)
        return min(value, cap_s)

    def count(self, tool: str | None) -> int:
        """Samples held for `tool` (None: the global window)."""
        if tool is None:
            return len(self._global)
        window = self._tools.get(tool)
        return len(window) if window is not None else 0

    def total(self) -> int:
        """Durations recorded since construction (not capped by the window)."""
        return self._total

    def estimates(self) -> dict[str, tuple[int, float, float]]:
        """Per tool: (samples held, p50 seconds, p90 seconds)."""
        return {tool: (len(w), w.quantile(0.5), w.quantile(0.9))
                for tool, w in self._tools.items()}
