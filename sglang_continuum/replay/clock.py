"""Time for the replay, injected: real (monotonic, interruptible sleeps) or fake (tests)."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale (any epoch)."""

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        """Wait ``seconds`` (<= 0: not at all). False when ``stop`` is (or becomes) set."""


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        if stop is None:
            if seconds > 0:
                time.sleep(seconds)
            return True
        if stop.is_set():
            return False
        return not (seconds > 0 and stop.wait(seconds))


class FakeClock:
    """Sleeping advances the time at once; every sleep is recorded (thread-safe)."""

    def __init__(self, start: float = 0.0):
        self._t = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._t

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += seconds

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        if stop is not None and stop.is_set():
            return False
        with self._lock:
            self.sleeps.append(seconds)
            self._t += max(0.0, seconds)
        return True
