"""What a finished turn of an inferred program (one that sent no id) may lock, and
whether it ended its program.

An inferred program is only a guess until evidence arrives. A request that continues no
finished turn starts a new inferred program; it might be an agent's first turn, or a
single-turn request that will never be continued (plain traffic beside the agents). The
rule, per finished turn:

- The output calls a tool (core/tool_detect.py): the program is an agent; lock as for
  an explicit program, and remember that it calls tools.
- No tool call, and the program called tools before: it answered instead of calling a
  tool, so its context will not be extended (the ``last_turn`` an explicit agent sends).
- No tool call, no tool seen before, and a later prompt already continued the program
  (``proven``): an agent whose tool-call format is not recognised (or a chat user who
  keeps talking); lock as for an explicit program.
- Otherwise (a first turn with no tool call): no lock, and the request is ranked as a
  plain request. Plain traffic then costs nothing, and an agent whose format is not
  recognised loses only its first turn's lock.

Memory is bounded: the programs known to call tools are an LRU set of ``max_programs``
keys. Pure: no clock, no SGLang.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

from .programs import ProgramKey


class InferredTurn(NamedTuple):
    lockable: bool
    last_turn: bool


class InferredPrograms:
    def __init__(self, max_programs: int = 16_384) -> None:
        if isinstance(max_programs, bool) or not isinstance(max_programs, int) \
                or max_programs < 1:
            raise ValueError(f"InferredPrograms.max_programs: expected an integer >= 1, "
                             f"got {max_programs!r}")
        self._max = max_programs
        self._tool_callers: OrderedDict[ProgramKey, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tool_callers)

    def finished(self, key: ProgramKey, proven: bool, tool: str | None) -> InferredTurn:
        """Classify a finished turn of inferred program `key` (see the module doc)."""
        callers = self._tool_callers
        if tool is not None:
            if key in callers:
                callers.move_to_end(key)
            else:
                if len(callers) >= self._max:
                    callers.popitem(last=False)
                callers[key] = None
            return InferredTurn(True, False)
        if key in callers:
            del callers[key]
            return InferredTurn(False, True)
        return InferredTurn(proven, False)
