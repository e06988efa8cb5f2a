"""Host tier: what becomes of a TTL lock's KV when the lock lapses or gives way.

With a host tier under the device pool, the adapter demotes such KV to host memory
(device slots freed at once; the program's next turn loads it back) instead of leaving
it to device eviction. A lock that gave way under memory pressure belongs to a program
still inside its TTL (its tool has not come back): its host copy is held against host
eviction until that TTL ends, the program's next turn is admitted, or the program ends.
A lock that lapsed is past its TTL: demoted, and its hold ends at the same expiry pass.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from .programs import ProgramKey


@dataclass(slots=True)
class HostHold:
    key: ProgramKey
    until: float
    tokens: int
    handle: object
    seq: int


class HostHolds:
    def __init__(self) -> None:
        # The last lock each program released (its TTL end, tokens): consumed when the
        # adapter reports a demotion, or when the program's next turn or end takes it.
        self._released: dict[ProgramKey, tuple[float, int]] = {}
        self._holds: dict[ProgramKey, HostHold] = {}
        self._expiry: list[tuple[float, int, ProgramKey]] = []  # lazy deletion by seq
        self._seq = 0
        self.tokens = 0
        self.demoted_count = 0

    def __len__(self) -> int:
        return len(self._holds)

    def released(self, key: ProgramKey, until: float, tokens: int) -> None:
        """The policy released `key`'s lock of `tokens`, whose TTL ends at `until`."""
        self._released[key] = (until, tokens)

    def demoted(self, key: ProgramKey, handle: object | None) -> object | None:
        """The adapter demoted the KV of `key`'s lock that lapsed or gave way
        (`handle`: its host lock; None: not demoted). It is held until the lock's TTL
        ends (a lapsed lock's has: the same expiry pass releases it). Returns a hold it
        replaced, for the caller to release."""
        until, tokens = self._released.pop(key, (None, 0))
        if handle is None or until is None:
            return handle
        self.demoted_count += 1
        previous = self.take(key)
        self._seq += 1
        self._holds[key] = HostHold(key, until, tokens, handle, self._seq)
        self.tokens += tokens
        heapq.heappush(self._expiry, (until, self._seq, key))
        return previous

    def take(self, key: ProgramKey) -> object | None:
        """Remove `key`'s hold (its next turn was admitted, or it ended); its handle."""
        self._released.pop(key, None)
        hold = self._holds.pop(key, None)
        if hold is None:
            return None
        self.tokens -= hold.tokens
        if len(self._expiry) > 2 * len(self._holds) + 64:
            self._expiry = [e for e in self._expiry if self._live(e)]
            heapq.heapify(self._expiry)
        return hold.handle

    def expired(self, now: float) -> list[object]:
        """Remove the holds with until < now; their handles, earliest first."""
        out = []
        while self._expiry and self._expiry[0][0] < now:
            entry = heapq.heappop(self._expiry)
            if self._live(entry):
                out.append(self.take(entry[2]))
        return out

    def clear(self) -> None:
        """The cache was reset: every hold names KV that is gone."""
        self._released.clear()
        self._holds.clear()
        self._expiry.clear()
        self.tokens = 0

    def counts(self) -> dict[str, int]:
        """The snapshot's host-tier fields."""
        return {"locks_demoted": self.demoted_count, "host_holds": len(self._holds),
                "host_held_tokens": self.tokens}

    def _live(self, entry: tuple[float, int, ProgramKey]) -> bool:
        hold = self._holds.get(entry[2])
        return hold is not None and hold.seq == entry[1]
