"""Token-granular KV cache of fixed capacity, one cached prefix per program.

Model: an agent program's context is linear (turn i+1's prompt extends turn i's prompt
and output), and programs share nothing, so a radix tree reduces to one prefix length
per program. Tokens cached for a program = length of the cached prefix of its context.
A prefix is *pinned* while its program has a request admitted, *locked* while the policy
holds a TTL lock on it, and otherwise evictable: eviction is LRU over evictable
programs by last access, trimming from the tail of the prefix (SGLang evicts radix
leaves, i.e. the tail of a linear context, first).

Optional host tier (write-through on eviction, unbounded): ``host_len`` remembers the
longest prefix of a program copied to host memory, reloadable instead of recomputed.
"""

from __future__ import annotations

import heapq


class PrefixCache:
    def __init__(self, capacity: int, host_tier: bool = False):
        if capacity <= 0:
            raise ValueError(f"capacity={capacity!r}: must be > 0 tokens")
        self.capacity = capacity
        self.used = 0
        self.evictable = 0
        self.evicted_tokens = 0
        self.host_tier = host_tier
        self._len: dict[int, int] = {}
        self._host: dict[int, int] = {}
        self._pinned: set[int] = set()
        self._locked: set[int] = set()
        self._access: dict[int, float] = {}
        self._heap: list[tuple[float, int]] = []  # (last access, program); lazy

    # queries
    @property
    def free(self) -> int:
        return self.capacity - self.used

    def cached(self, p: int) -> int:
        return self._len.get(p, 0)

    def host_len(self, p: int) -> int:
        return self._host.get(p, 0)

    def is_evictable(self, p: int) -> bool:
        return p not in self._pinned and p not in self._locked and self._len.get(p, 0) > 0

    def evictable_except(self, p: int) -> int:
        return self.evictable - (self._len.get(p, 0) if self.is_evictable(p) else 0)

    def locked(self) -> set[int]:
        return self._locked

    # state changes
    def _leave(self, p: int) -> None:
        if self.is_evictable(p):
            self.evictable -= self._len[p]

    def _enter(self, p: int) -> None:
        if self.is_evictable(p):
            self.evictable += self._len[p]
            heapq.heappush(self._heap, (self._access.get(p, 0.0), p))

    def pin(self, p: int) -> None:
        self._leave(p)
        self._pinned.add(p)

    def unpin(self, p: int, now: float) -> None:
        self._pinned.discard(p)
        self._access[p] = now
        self._enter(p)

    def lock(self, p: int) -> None:
        self._leave(p)
        self._locked.add(p)

    def unlock(self, p: int) -> None:
        if p in self._locked:
            self._locked.discard(p)
            self._enter(p)

    def demote(self, p: int) -> bool:
        """Move an evictable program's device prefix to the host tier at once (the
        server's demote of a lock that lapsed or gave way). False: nothing moved."""
        if not self.host_tier or not self.is_evictable(p):
            return False
        n = self._len[p]
        self._host[p] = max(self._host.get(p, 0), n)
        self._len[p] = 0
        self.used -= n
        self.evictable -= n
        self.evicted_tokens += n
        return True

    def grow(self, p: int, n: int) -> None:
        """Add ``n`` tokens to a pinned program's prefix; the caller made room."""
        if n > self.free:
            raise RuntimeError(f"grow({p}, {n}) with {self.free} free: make_room first")
        self._leave(p)
        self._len[p] = self._len.get(p, 0) + n
        self.used += n
        self._enter(p)

    def truncate(self, p: int, n: int) -> None:
        """Keep only the first ``n`` tokens of ``p``'s prefix."""
        cur = self._len.get(p, 0)
        if n < cur:
            self._leave(p)
            self._len[p] = n
            self.used -= cur - n
            self._enter(p)

    def make_room(self, n: int) -> bool:
        """Evict LRU tails until ``n`` tokens are free; False (nothing evicted) if impossible."""
        if n <= self.free:
            return True
        if n > self.free + self.evictable:
            return False
        need = n - self.free
        while need > 0:
            access, p = heapq.heappop(self._heap)
            if not self.is_evictable(p) or self._access.get(p, 0.0) != access:
                continue  # stale entry
            take = min(need, self._len[p])
            if self.host_tier:
                self._host[p] = max(self._host.get(p, 0), self._len[p])
            self._len[p] -= take
            self.used -= take
            self.evictable -= take
            self.evicted_tokens += take
            need -= take
            if self._len[p] > 0:
                heapq.heappush(self._heap, (access, p))
        return True
