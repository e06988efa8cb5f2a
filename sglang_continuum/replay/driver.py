"""Program arrivals: Poisson at a rate (open loop) or N programs at a time (closed loop).

Threads, one per running program; time through the injected :class:`Clock`; ``stop``
ends the run early (Ctrl-C) and the results so far are returned, partial programs
marked ``interrupted``.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from sglang_continuum.workload import Program
from sglang_continuum.workload.arrivals import poisson_arrivals

from .agent import run_program
from .client import Sender
from .clock import Clock, RealClock
from .results import ProgramResult, TurnResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Poisson:
    rate: float  # programs per second
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.rate, (int, float)) or not math.isfinite(self.rate) \
                or self.rate <= 0:
            raise ValueError(f"rate={self.rate!r}: expected programs per second > 0")

    def describe(self) -> str:
        return f"poisson {self.rate:g}/s"


@dataclass(frozen=True)
class Concurrency:
    n: int  # programs running at a time

    def __post_init__(self):
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"concurrency={self.n!r}: expected an int >= 1")

    def describe(self) -> str:
        return f"concurrency {self.n}"


def _thread(fn: Callable[[], None]):
    th = threading.Thread(target=fn, daemon=True)
    th.start()
    return th


class Replay:
    def __init__(self, programs: Sequence[Program], send: Sender, load: Poisson | Concurrency,
                 clock: Clock | None = None, stop: threading.Event | None = None,
                 seed: int = 0, shared: Sequence[int] = (), tool_hints: bool = True,
                 on_turn: Callable[[TurnResult], None] | None = None,
                 spawn: Callable[[Callable[[], None]], object] = _thread):
        self.programs, self.send, self.load = list(programs), send, load
        self.clock = clock or RealClock()
        self.stop = stop or threading.Event()
        self.seed, self.shared, self.tool_hints = seed, list(shared), tool_hints
        self.on_turn, self.spawn = on_turn, spawn
        self.results: list[ProgramResult] = []
        self._handles: list = []
        self._t0 = 0.0

    def _play(self, program: Program, result: ProgramResult) -> None:
        run_program(program, self.send, self.clock, result, self.stop, self._t0, self.seed,
                    self.shared, self.tool_hints, self.on_turn)

    def _open_loop(self) -> None:
        for program, at in zip(self.programs, poisson_arrivals(
                len(self.programs), self.load.rate, self.load.seed)):
            if not self.clock.sleep(self._t0 + at - self.clock.now(), self.stop):
                return
            res = ProgramResult(program.program_id, at, len(program.turns))
            self.results.append(res)
            self._handles.append(self.spawn(lambda p=program, r=res: self._play(p, r)))

    def _closed_loop(self) -> None:
        todo: queue.SimpleQueue = queue.SimpleQueue()
        for p in self.programs:
            todo.put(p)
        lock = threading.Lock()

        def worker():
            while not self.stop.is_set():
                try:
                    program = todo.get_nowait()
                except queue.Empty:
                    return
                with lock:
                    res = ProgramResult(program.program_id, self.clock.now() - self._t0,
                                        len(program.turns))
                    self.results.append(res)
                self._play(program, res)

        for _ in range(min(self.load.n, len(self.programs))):
            self._handles.append(self.spawn(worker))

    def _join(self, timeout: float | None) -> None:
        # real time: joins wait on real threads whatever clock paces the programs
        deadline = None if timeout is None else time.monotonic() + timeout
        for h in self._handles:
            if not hasattr(h, "join"):
                continue  # an inline spawn: already done
            while h.is_alive():  # short joins keep Ctrl-C deliverable to this thread
                h.join(0.2)
                if deadline is not None and time.monotonic() >= deadline:
                    return

    def run(self, grace_s: float = 10.0) -> list[ProgramResult]:
        """Play every program; on KeyboardInterrupt stop, wait ``grace_s`` for running
        calls, mark what did not finish ``interrupted`` and return the results so far."""
        self._t0 = self.clock.now()
        try:
            if isinstance(self.load, Poisson):
                self._open_loop()
            else:
                self._closed_loop()
            self._join(None)
        except KeyboardInterrupt:
            logger.warning("interrupted: stopping, waiting up to %.0fs for running calls",
                           grace_s)
            self.stop.set()
            self._join(grace_s)
        if self.stop.is_set():
            for r in self.results:
                if not r.complete and r.error is None:
                    r.interrupted = True
        return list(self.results)
