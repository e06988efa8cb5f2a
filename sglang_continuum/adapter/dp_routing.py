"""Which data-parallel rank serves a program's turn.

With ``--dp-size N`` every rank has its own radix cache, so a program's turns must keep
landing on the rank that holds its KV (and its TTL lock). The rule, per request of a
program ``key``, given each rank's outstanding requests ``loads`` and the ranks that
can take work ``active``:

1. A program with a home rank goes home, unless the home is no longer active (failed,
   removed: ``moved_failed``) or saturated, i.e. its load exceeds the least loaded
   active rank's by more than ``max_imbalance`` requests (``moved_saturated``). A move
   costs one prefill on the new rank, which becomes the home.
2. A new program goes to the least loaded active rank (``new``); ties rotate, so a
   trickle of new programs on an idle server still alternates ranks.

Requests without a program are not routed here (SGLang's own method takes them).
Memory is bounded: ``max_programs`` homes, least recently routed forgotten first. The
decision is a pure function of its inputs and this table; nothing reads a clock.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Collection, Hashable, NamedTuple, Sequence

REASONS = ("home", "new", "moved_failed", "moved_saturated")


@dataclass(frozen=True)
class DpRoutingConfig:
    """Invalid values raise ValueError naming the field."""

    max_imbalance: int = 8
    max_programs: int = 100_000

    def __post_init__(self) -> None:
        for name, low in (("max_imbalance", 0), ("max_programs", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"DpRoutingConfig.{name}: expected an integer >= {low}, "
                                 f"got {v!r}")


class Route(NamedTuple):
    rank: int
    reason: str  # one of REASONS


class StickyRanks:
    """Home rank per program; ``route`` picks the rank and updates the home."""

    def __init__(self, config: DpRoutingConfig | None = None) -> None:
        self.config = config or DpRoutingConfig()
        self._home: OrderedDict[Hashable, int] = OrderedDict()
        self._next = 0  # rotation among equally loaded ranks for new programs
        self.counts = dict.fromkeys(REASONS, 0)

    def __len__(self) -> int:
        return len(self._home)

    def home(self, key: Hashable) -> int | None:
        return self._home.get(key)

    def route(self, key: Hashable, loads: Sequence[int], active: Collection[int]) -> Route:
        if not active:
            raise ValueError("route: no active rank to route to")
        home = self._home.get(key)
        if home is None:
            reason = "new"
        elif home not in active:
            reason = "moved_failed"
        elif loads[home] - min(loads[r] for r in active) > self.config.max_imbalance:
            reason = "moved_saturated"
        else:
            reason = "home"
        rank = home if reason == "home" else self._least_loaded(loads, active)
        self._remember(key, rank)
        self.counts[reason] += 1
        return Route(rank, reason)

    def forget(self, key: Hashable) -> None:
        self._home.pop(key, None)

    def _least_loaded(self, loads: Sequence[int], active: Collection[int]) -> int:
        n = len(loads)
        rank = min(active, key=lambda r: (loads[r], (r - self._next) % n))
        self._next = (rank + 1) % n
        return rank

    def _remember(self, key: Hashable, rank: int) -> None:
        self._home[key] = rank
        self._home.move_to_end(key)
        while len(self._home) > self.config.max_programs:
            self._home.popitem(last=False)
