"""The two value types every workload source produces and every consumer reads.

A program is an agent's run: a list of LLM calls (turns). Each turn records the WHOLE
context it sends (``prompt``), the tokens it generates (``output``), the tools its output
invokes and the tool time before the next call (``gap_s``). Arrival times are not part
of a program: the replay and the simulator choose them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TOOL_SEP = "/"  # joins several tool names into one hint (allowed by the overlay's syntax)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True, slots=True)
class Turn:
    prompt: int                  # context tokens sent (whole prompt, not the delta)
    output: int                  # tokens generated
    tools: tuple[str, ...] = ()  # tool calls the output issues (may be empty)
    gap_s: float = 0.0           # tool time before the next call; 0 on the last turn

    def __post_init__(self):
        if not _is_int(self.prompt) or self.prompt < 1:
            raise ValueError(f"Turn.prompt={self.prompt!r}: expected an int >= 1")
        if not _is_int(self.output) or self.output < 1:
            raise ValueError(f"Turn.output={self.output!r}: expected an int >= 1")
        if not isinstance(self.tools, tuple) or not all(isinstance(t, str) for t in self.tools):
            raise ValueError(f"Turn.tools={self.tools!r}: expected a tuple of str")
        if not isinstance(self.gap_s, (int, float)) or not math.isfinite(self.gap_s) \
                or self.gap_s < 0:
            raise ValueError(f"Turn.gap_s={self.gap_s!r}: expected finite seconds >= 0")

    @property
    def tool(self) -> str | None:
        """One name for the turn's tool calls: the name, several sorted and joined by '/'."""
        if not self.tools:
            return None
        return TOOL_SEP.join(sorted(set(self.tools)))


@dataclass(frozen=True, slots=True)
class Program:
    program_id: str
    turns: tuple[Turn, ...]

    def __post_init__(self):
        if not isinstance(self.program_id, str) or not self.program_id:
            raise ValueError(f"Program.program_id={self.program_id!r}: expected a non-empty str")
        if not isinstance(self.turns, tuple) or not self.turns \
                or not all(isinstance(t, Turn) for t in self.turns):
            raise ValueError(f"program {self.program_id!r}: expected a non-empty tuple of Turn")

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens summed over the calls (the paper's "tokens per program")."""
        return sum(t.prompt for t in self.turns)

    @property
    def output_tokens(self) -> int:
        return sum(t.output for t in self.turns)

    @property
    def tool_time_s(self) -> float:
        return sum(t.gap_s for t in self.turns[:-1])

    def tool_result_tokens(self, i: int) -> int:
        """Tokens the tool results of turn ``i`` add to the context of turn ``i + 1``.

        The next prompt extends this one by the output and the tool results; where a
        source's next prompt is shorter than that (context compaction), 0.
        """
        a, b = self.turns[i], self.turns[i + 1]
        return max(0, b.prompt - a.prompt - a.output)
