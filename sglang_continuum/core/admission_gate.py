"""Program admission gate: a comparison mode, not the overlay's default.

In the spirit of ThunderAgent's program-level admission: a new program's first turn is
held while the KV of the programs already resident (started and not finished, running
or paused for a tool) plus the new program's first prompt would not fit a limit: the
device pool, or a variant sized to device plus host tier. Held programs resume in the
order of their first arrival: once one new program is held, every younger new program
waits behind it, so none overtakes an older held one. Continuing turns of resident
programs are never held. With no program resident the head is always admitted, so the
gate cannot deadlock an idle engine.

Pure: the driver passes the resident token count and program count it sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class AdmissionGate:
    """``limit_tokens``: resident KV (tokens) the gate admits new programs up to
    (``math.inf``: never holds)."""

    limit_tokens: float

    def __post_init__(self):
        if not (isinstance(self.limit_tokens, (int, float)) and self.limit_tokens > 0):
            raise ValueError(f"AdmissionGate.limit_tokens={self.limit_tokens!r}: expected "
                             "tokens > 0 (math.inf for a gate that never holds)")

    def admits(self, resident_tokens: int, resident_programs: int, first_prompt: int) -> bool:
        """Whether a new program whose first prompt is ``first_prompt`` tokens may start
        while ``resident_programs`` programs hold ``resident_tokens`` tokens."""
        if resident_programs == 0 or math.isinf(self.limit_tokens):
            return True
        return resident_tokens + first_prompt <= self.limit_tokens

    def admitted(self, resident_tokens: int, resident_programs: int,
                 first_prompts: Iterable[int]) -> int:
        """How many of the waiting new programs (``first_prompts`` in first-arrival
        order) start now: a prefix of them, each counted resident once admitted."""
        n = 0
        for prompt in first_prompts:
            if not self.admits(resident_tokens, resident_programs, prompt):
                break
            resident_tokens += prompt
            resident_programs += 1
            n += 1
        return n
