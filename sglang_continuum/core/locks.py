"""The lock table: TTL locks by program, an expiry heap and a pressure order.

Both heaps use lazy deletion: an entry is live only while the lock it names still has
the same sequence number (and, for the pressure heaps, the same waiting state).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from .programs import ProgramKey


@dataclass(slots=True)
class Lock:
    key: ProgramKey
    expires_at: float
    tokens: int
    handle: object
    set_at: float
    first_arrival: float
    seq: int
    waiting: bool = False
    parked: bool = False  # came due while its program was waiting; out of the expiry heap


class LockTable:
    def __init__(self) -> None:
        self._locks: dict[ProgramKey, Lock] = {}
        self._expiry: list[tuple[float, int, ProgramKey]] = []
        # Index 0: programs not waiting, 1: waiting. Entries (-first_arrival, -seq, key).
        self._young: tuple[list, list] = ([], [])
        self._tokens = 0
        self._tenant_tokens: dict[str, int] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._locks)

    def values(self):
        """The live locks (a view: do not change the table while iterating)."""
        return self._locks.values()

    def get(self, key: ProgramKey) -> Lock | None:
        return self._locks.get(key)

    @property
    def tokens(self) -> int:
        return self._tokens

    def tenant_tokens(self, tenant: str) -> int:
        return self._tenant_tokens.get(tenant, 0)

    def add(self, key: ProgramKey, expires_at: float, tokens: int, handle: object,
            set_at: float, first_arrival: float, waiting: bool) -> Lock | None:
        """Insert the lock of `key`; returns the lock it replaced, if any."""
        previous = self.pop(key)
        self._seq += 1
        lock = Lock(key, expires_at, tokens, handle, set_at, first_arrival, self._seq, waiting)
        self._locks[key] = lock
        self._tokens += tokens
        self._tenant_tokens[key[0]] = self._tenant_tokens.get(key[0], 0) + tokens
        heapq.heappush(self._expiry, (expires_at, lock.seq, key))
        self._push_young(lock)
        return previous

    def pop(self, key: ProgramKey) -> Lock | None:
        lock = self._locks.pop(key, None)
        if lock is not None:
            self._tokens -= lock.tokens
            left = self._tenant_tokens.get(key[0], 0) - lock.tokens
            if left:
                self._tenant_tokens[key[0]] = left
            else:
                self._tenant_tokens.pop(key[0], None)  # zero-token locks leave no entry
            self._compact()
        return lock

    def refusal(self, key: ProgramKey, tokens: int, program_cap: float, tenant_cap: float,
                budget: float) -> str | None:
        """The bound a new lock of `tokens` for `key` would break (the lock it replaces
        counts as gone), checked in this order; None when it fits."""
        held = self._locks.get(key)
        replaced = held.tokens if held is not None else 0
        if tokens > program_cap:
            return "per_program_cap"
        if self.tenant_tokens(key[0]) - replaced + tokens > tenant_cap:
            return "tenant_share"
        if self._tokens - replaced + tokens > budget:
            return "lock_budget"
        return None

    def set_waiting(self, key: ProgramKey, waiting: bool) -> None:
        """Record whether the lock's program has a turn waiting in the queue."""
        lock = self._locks.get(key)
        if lock is None or lock.waiting == waiting:
            return
        lock.waiting = waiting
        self._push_young(lock)
        self._compact()
        if not waiting and lock.parked:
            lock.parked = False
            heapq.heappush(self._expiry, (lock.expires_at, lock.seq, key))

    def clear(self) -> list[Lock]:
        """Remove every lock; returns them (the cache they pinned was reset)."""
        out = list(self._locks.values())
        self._locks.clear()
        self._expiry.clear()
        for heap in self._young:
            heap.clear()
        self._tokens = 0
        self._tenant_tokens.clear()
        return out

    def pop_expired(self, now: float) -> list[Lock]:
        """Remove and return locks with expires_at < now, earliest first.

        A lock whose program is waiting is parked instead: it stays until the turn is
        admitted, dropped, or its program stops waiting.
        """
        out = []
        heap = self._expiry
        while heap and heap[0][0] < now:
            _, seq, key = heapq.heappop(heap)
            lock = self._locks.get(key)
            if lock is None or lock.seq != seq:
                continue
            if lock.waiting:
                lock.parked = True
                continue
            out.append(self.pop(key))
        return out

    def pop_youngest(self, younger_than: float = -math.inf) -> Lock | None:
        """Remove the lock of the latest-arriving program, non-waiting programs first,
        among programs whose first arrival is after `younger_than`."""
        for waiting, heap in enumerate(self._young):
            while heap:
                neg_arrival, _, seq, key = heap[0]
                lock = self._locks.get(key)
                if lock is None or lock.seq != seq or lock.waiting != bool(waiting):
                    heapq.heappop(heap)  # stale entry
                    continue
                if -neg_arrival <= younger_than:
                    break  # the youngest live lock of this heap is too old
                heapq.heappop(heap)
                return self.pop(key)
        return None

    def _push_young(self, lock: Lock) -> None:
        entry = (-lock.first_arrival, -lock.seq, lock.seq, lock.key)
        heapq.heappush(self._young[int(lock.waiting)], entry)

    def _compact(self) -> None:
        # Stale entries are dropped in bulk once they dominate: amortised O(log n).
        limit = 2 * len(self._locks) + 64
        if len(self._expiry) > limit:
            self._expiry = [e for e in self._expiry if self._live(e[2], e[1])]
            heapq.heapify(self._expiry)
        for i, heap in enumerate(self._young):
            if len(heap) > limit:
                heap[:] = [e for e in heap if self._live(e[3], e[2], bool(i))]
                heapq.heapify(heap)

    def _live(self, key: ProgramKey, seq: int, waiting: bool | None = None) -> bool:
        lock = self._locks.get(key)
        if lock is None or lock.seq != seq:
            return False
        if waiting is None:
            return not lock.parked
        return lock.waiting == waiting
