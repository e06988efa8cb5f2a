"""Mutable runtime state of a simulated program and of one of its requests (turns)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass

from ..core import Arrival
from .workload import ProgramSpec

_ID_BITS = 32  # positions per program: ids never collide between programs


class ContextIds:
    """Token ids of a simulated program's context, positions [start, stop): a pure
    function of (program, position), so each turn's prompt continues the previous
    turn's prompt and output exactly, and programs share no prefix. Slices are
    ``array('q')`` built on demand: program inference (core/inference.py) reads a few
    short slices of a prompt, never the whole of it."""

    __slots__ = ("_base", "_start", "_stop")

    def __init__(self, program: int, start: int, stop: int):
        self._base = (program + 1) << _ID_BITS
        self._start, self._stop = start, stop

    def __len__(self) -> int:
        return self._stop - self._start

    def __getitem__(self, index):
        first = self._base + self._start
        if isinstance(index, slice):
            lo, hi, step = index.indices(len(self))
            return array("q", range(first + lo, first + max(lo, hi), step))
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return first + index % len(self)


@dataclass(slots=True, eq=False)
class ProgramRun:
    spec: ProgramSpec
    index: int                     # cache handle and lock handle of the program
    key: tuple[str, str]           # (tenant, program_id) as the core sees it
    arrival: float
    turn: int = 0                  # index of the current (or next) turn
    finish: float | None = None
    waiting: bool = False          # a turn of it is in the waiting queue
    aborted: bool = False
    plain: bool = False            # its requests carry no program id: the core sees the
                                   # program that inference gives it (`inferred`), if any
    inferred: Arrival | None = None  # the latest turn's inferred program (plain only)
    sent: int = 0                  # prompt tokens of its latest turn, as sent

    @property
    def core_key(self) -> tuple[str, str] | None:
        """The program the core knows this run's latest turn by (None: a plain request
        the core never sees: inference off, or a prompt too short to key)."""
        return self.key if not self.plain or self.inferred is not None else None

    @property
    def queue_key(self) -> tuple[str, str] | None:
        """The program the queue order and the pressure rule see: None for a plain
        request that continued no finished turn (it ranks as the server ranks it)."""
        if not self.plain:
            return self.key
        return self.key if self.inferred is not None and self.inferred.proven else None


@dataclass(slots=True, eq=False)
class Request:
    program: ProgramRun
    turn: int
    prompt: int                    # tokens to hold before decoding (grows on retraction)
    output: int                    # tokens still to generate in total for this request
    arrival: float
    generated: int = 0
    computed: int = 0              # prompt tokens whose KV exists
    hit: int = 0                   # prompt tokens found cached at (first) admission
    reload: int = 0                # tokens to copy back from the host tier this admission
    preempted: bool = False
    retractions: int = 0
    admitted_at: float | None = None
    first_token_at: float | None = None
    base: int = 0                  # tokens cached before the current admission
    order: int = 0                 # admission sequence (retraction picks the latest)
    queued_at: float = 0.0         # when it (last) entered the waiting queue
    queued_prefilled: int = 0      # engine's prefill tokens processed by then (hrrn aging)

    @property
    def remaining(self) -> int:
        return self.output - self.generated
