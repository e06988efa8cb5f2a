"""Token ids a replayed program sends: a real, growing agent context.

Turn ``i + 1``'s prompt is turn ``i``'s prompt + the ids the server generated for turn
``i`` + tool-result ids, so prefix reuse on the server is what an agent would get. The
tool result fills the context up to the next turn's planned length (none when the
planned context shrinks: the prompt then stays an exact extension, a little longer).
Ids are seeded per (seed, program id); different seeds never share a prefix in practice.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

VOCAB = (10, 2000)  # token ids drawn from [10, 2000): safe for the tiny model's 2048


class Context:
    def __init__(self, program_id: str, seed: int = 0, shared_prefix: Sequence[int] = (),
                 vocab: tuple[int, int] = VOCAB):
        self._rng = random.Random(f"context:{seed}:{program_id}")
        self._shared = list(shared_prefix)
        self._low, self._high = vocab
        self.ids: list[int] = []

    def _fresh(self, n: int) -> list[int]:
        r = self._rng.randrange
        return [r(self._low, self._high) for _ in range(max(0, n))]

    def first(self, length: int) -> list[int]:
        """The first prompt: the shared prefix (if any) then program-specific ids."""
        head = self._shared[:length]
        self.ids = head + self._fresh(length - len(head))
        return list(self.ids)

    def next(self, output_ids: Sequence[int], length: int) -> list[int]:
        """The next prompt: previous prompt + output + tool result up to ``length``."""
        grown = self.ids + list(output_ids)
        self.ids = grown + self._fresh(length - len(grown))
        return list(self.ids)


def shared_prefix(length: int, seed: int = 0) -> list[int]:
    """A system-prompt-like prefix common to every program of a run."""
    rng = random.Random(f"shared:{seed}")
    return [rng.randrange(*VOCAB) for _ in range(length)]
