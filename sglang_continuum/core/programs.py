"""The program table: per-program state, bounded in size."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

ProgramKey = tuple[str, str]
"""(tenant, program_id)."""


@dataclass(slots=True)
class Program:
    """What the policy remembers of one agent program between its turns."""

    key: ProgramKey
    first_arrival: float
    last_seen: float
    last_finish: float | None = None
    last_tool: str | None = None
    waiting: bool = False
    turns: int = 0
    finished: bool = False
    locked: bool = False  # mirrors the lock table so queue_key needs one lookup

    @property
    def tenant(self) -> str:
        return self.key[0]


class ProgramTable:
    """Programs by key, least recently seen first.

    Holds at most `max_programs` entries: creating one more evicts the least recently
    seen program that neither holds a lock nor has a waiting turn. Only when every
    program is locked or waiting does the table grow (bounded by KV capacity and the
    server's queue).
    """

    def __init__(self, max_programs: int) -> None:
        self._max = max_programs
        self._programs: OrderedDict[ProgramKey, Program] = OrderedDict()

    def __len__(self) -> int:
        return len(self._programs)

    def __contains__(self, key: object) -> bool:
        return key in self._programs

    def get(self, key: ProgramKey) -> Program | None:
        """Look up without changing recency (cheap; used by queue_key)."""
        return self._programs.get(key)

    @property
    def lookup(self):
        """`get` as the table's own bound ``dict.get``: one C call per lookup, for
        loops over a whole waiting queue."""
        return self._programs.get

    def touch(self, key: ProgramKey, now: float) -> Program:
        """The program, created with first arrival `now` if unknown; marks it seen."""
        program = self._programs.get(key)
        if program is None:
            if len(self._programs) >= self._max:
                self._evict_one()
            program = self._programs[key] = Program(key, first_arrival=now, last_seen=now)
        else:
            program.last_seen = now
            self._programs.move_to_end(key)
        return program

    def forget(self, key: ProgramKey) -> None:
        self._programs.pop(key, None)

    def _evict_one(self) -> None:
        # Busy programs met on the way are moved to the back, so repeated evictions
        # do not rescan them.
        for _ in range(len(self._programs)):
            key, program = next(iter(self._programs.items()))
            if program.locked or program.waiting:
                self._programs.move_to_end(key)
                continue
            del self._programs[key]
            return
