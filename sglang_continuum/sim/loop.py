"""The event loop: a heap of (time, priority, seq, event), SimPy style.

Equal times run by priority, then by insertion order (``seq``): deterministic.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import Protocol


class Event(Protocol):
    priority: int

    def fire(self, sim, now: float) -> None:
        """Apply the event to the simulator at time ``now``; may schedule more."""


class EventLoop:
    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, int, Event]] = []
        self._seq = itertools.count()
        self.stopped = False
        self.fired = 0

    def schedule(self, time: float, event: Event) -> None:
        if time < self.now:
            raise ValueError(f"event {event!r} scheduled at {time} < now {self.now}")
        heapq.heappush(self._heap, (time, event.priority, next(self._seq), event))

    def peek_time(self) -> float:
        return self._heap[0][0] if self._heap else math.inf

    def run(self, sim) -> None:
        heap = self._heap
        while heap and not self.stopped:
            time, _, _, event = heapq.heappop(heap)
            self.now = time
            event.fire(sim, time)
            self.fired += 1

    def stop(self) -> None:
        self.stopped = True
