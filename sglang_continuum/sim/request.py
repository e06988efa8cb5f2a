"""Mutable runtime state of a simulated program and of one of its requests (turns)."""

from __future__ import annotations

from dataclasses import dataclass

from .workload import ProgramSpec


@dataclass(slots=True, eq=False)
class ProgramRun:
    spec: ProgramSpec
    index: int                     # cache handle and lock handle of the program
    key: tuple[str, str]           # (tenant, program_id) as the core sees it
    arrival: float
    turn: int = 0                  # index of the current (or next) turn
    attained: float = 0.0          # tokens served so far (Autellix least attained service)
    finish: float | None = None
    waiting: bool = False          # a turn of it is in the waiting queue
    aborted: bool = False
    anonymous: bool = False        # sent without a program id (plain traffic): the core's
                                   # queue key and pressure rule see no program


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

    @property
    def remaining(self) -> int:
        return self.output - self.generated
