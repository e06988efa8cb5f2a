"""Token-granular KV cache of fixed capacity, one cached prefix per program.

Model: an agent program's context is linear (turn i+1's prompt extends turn i's prompt
and output), and programs share nothing, so a radix tree reduces to one prefix length
per program. Tokens cached for a program = length of the cached prefix of its context.
A prefix is *pinned* while its program has a request admitted, *locked* while the policy
holds a TTL lock on it, and otherwise evictable: eviction trims evictable prefixes from
the tail (SGLang evicts radix leaves, i.e. the tail of a linear context, first) in the
order of an ``EvictionOrder`` (``eviction.py``: LRU by last access by default; SLRU,
T-LRU, radix sessions), a pure key function as in SGLang.

Optional host tier (SGLang's HiCache): ``host_len`` is the longest prefix of a program
copied to host memory, reloadable instead of recomputed. ``host_capacity`` tokens (inf:
unbounded); copies of device-resident tokens count against it as in HiCache's host
pool. ``write_through`` (HiCache ``write_through``): a finished request's KV is copied
to host on insert; otherwise (``write_back``) tokens are copied when the device evicts
them. A full host pool evicts host-only tails (tokens no longer on the device) of the
least recently used programs, never a program's held copy (``hold_host``); what still
does not fit is not copied. ``written_tokens`` counts device-to-host traffic;
``take_written_back`` hands the engine the tokens an eviction had to copy first (the
write-back stall it charges to the step).
"""

from __future__ import annotations

import heapq
import math

from .eviction import LRU, EvictionOrder, PrefixInfo


class PrefixCache:
    def __init__(self, capacity: int, host_tier: bool = False, order: EvictionOrder = LRU(),
                 host_capacity: float = math.inf, write_through: bool = False):
        if capacity <= 0:
            raise ValueError(f"capacity={capacity!r}: must be > 0 tokens")
        if not host_capacity > 0:
            raise ValueError(f"host_capacity={host_capacity!r}: must be > 0 tokens (inf: "
                             "unbounded)")
        self.host_capacity = host_capacity
        self.write_through = write_through
        self.host_used = 0
        self.written_tokens = 0
        self._written_back = 0
        self._host_held: set[int] = set()
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
        self._heap: list[tuple[tuple, int, int]] = []  # (priority, program, start); lazy
        self.order = order
        self._info: dict[int, PrefixInfo] = {}
        self._host_key_fn = getattr(order, "host_key", None)

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
            for start, prio in self._parts(p):
                heapq.heappush(self._heap, (prio, p, start))

    def _parts(self, p: int) -> tuple:
        return self.order.parts(self._len[p], self._access.get(p, 0.0), self._meta(p))

    def _meta(self, p: int) -> PrefixInfo:
        info = self._info.get(p)
        if info is None:
            info = self._info[p] = PrefixInfo(seq=len(self._info))
        return info

    def _shrunk(self, p: int) -> None:
        """Tokens past the new length are gone: a token re-created later is new (SGLang
        resets a re-inserted node's hit count)."""
        n = self._len[p]
        ins = self._meta(p).inserts
        for i, v in enumerate(ins):
            if v > n:
                ins[i] = n

    def pin(self, p: int) -> None:
        self._leave(p)
        self._pinned.add(p)

    def unpin(self, p: int, now: float, inserted: bool = True) -> None:
        """A request of ``p`` leaves; ``inserted``: it finished and inserted its KV (a
        retracted one did not)."""
        self._pinned.discard(p)
        self._access[p] = now
        if inserted and self.host_tier and self.write_through:
            self._store_host(p, self._len.get(p, 0))
        if inserted and self.order.history:
            ins = self._meta(p).inserts
            ins.append(self._len.get(p, 0))
            del ins[:-self.order.history]
        self._enter(p)

    def close(self, p: int) -> None:
        """``p``'s program ended (a radix session closes; other orders ignore it)."""
        if not self._meta(p).closed:
            self._leave(p)
            self._info[p].closed = True
            self._enter(p)

    def drop(self, p: int, host: bool = True) -> None:
        """Give up an ended program's KV at once, on the device without a copy and, with
        ``host``, its host copy too (else host eviction takes it in its turn); a pinned
        or locked prefix stays."""
        if self.is_evictable(p):
            self._leave(p)
            n = self._len[p]
            self._len[p] = 0
            self.used -= n
            self.evicted_tokens += n
            self._shrunk(p)
        if host and p not in self._host_held:
            self.host_used -= self._host.pop(p, 0)

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
        self._written_back += self._store_host(p, n)
        self._len[p] = 0
        self.used -= n
        self.evictable -= n
        self.evicted_tokens += n
        return True

    def promote(self, p: int, n: int, now: float) -> bool:
        """Load ``n`` tokens of ``p``'s host copy back onto the device past its cached
        prefix (a prefetch), evicting in the cache's order for room (never ``p``'s own);
        False, nothing moved, where the room or the host copy is not there."""
        if not self.host_tier or p in self._pinned or \
                self._len.get(p, 0) + n > self._host.get(p, 0):
            return False
        self._leave(p)
        self._pinned.add(p)
        ok = self.make_room(n)
        self._pinned.discard(p)
        if ok:
            self._len[p] = self._len.get(p, 0) + n
            self.used += n
            self._access[p] = now
        self._enter(p)
        return ok

    def grow(self, p: int, n: int) -> None:
        """Add ``n`` tokens to a pinned program's prefix; the caller made room."""
        if n > self.free:
            raise RuntimeError(f"grow({p}, {n}) with {self.free} free: make_room first")
        self._leave(p)
        self._len[p] = self._len.get(p, 0) + n
        self.used += n
        info = self._meta(p)
        info.high_water = max(info.high_water, self._len[p])
        self._enter(p)

    def truncate(self, p: int, n: int) -> None:
        """Keep only the first ``n`` tokens of ``p``'s prefix."""
        cur = self._len.get(p, 0)
        if n < cur:
            self._leave(p)
            self._len[p] = n
            self.used -= cur - n
            self._shrunk(p)
            self._enter(p)

    def make_room(self, n: int) -> bool:
        """Evict tails in the cache's order until ``n`` tokens are free; False (nothing evicted) if impossible."""
        if n <= self.free:
            return True
        if n > self.free + self.evictable:
            return False
        need = n - self.free
        while need > 0:
            prio, p, start = heapq.heappop(self._heap)
            if not self.is_evictable(p) or (start, prio) not in self._parts(p) \
                    or self._len[p] <= start:
                continue  # stale entry
            take = min(need, self._len[p] - start)
            if self.host_tier:
                self._written_back += self._store_host(p, self._len[p])
            self._len[p] -= take
            self.used -= take
            self.evictable -= take
            self.evicted_tokens += take
            need -= take
            self._shrunk(p)
            if self._len[p] > start:
                heapq.heappush(self._heap, (prio, p, start))
        return True

    # host tier
    def host_free(self) -> float:
        """Tokens the host tier could take without evicting a host copy."""
        return self.host_capacity - self.host_used

    def hold_host(self, p: int) -> None:
        """Keep ``p``'s host copy from host eviction (a host hold)."""
        self._host_held.add(p)

    def unhold_host(self, p: int) -> None:
        self._host_held.discard(p)

    def take_written_back(self) -> int:
        """Tokens evictions copied to host since the last call (then 0)."""
        n, self._written_back = self._written_back, 0
        return n

    def _store_host(self, p: int, n: int) -> int:
        """Copy ``p``'s first ``n`` tokens to host (what is not there yet, as far as
        the pool allows); returns the tokens copied."""
        have = self._host.get(p, 0)
        need = n - have
        if need <= 0:
            return 0
        room = self.host_capacity - self.host_used
        if need > room:
            room += self._evict_host(need - room, keep=p)
        copied = int(min(need, room))
        if copied > 0:
            self._host[p] = have + copied
            self.host_used += copied
            self.written_tokens += copied
        return copied

    def _host_key(self, q: int) -> tuple:
        access = self._access.get(q, 0.0)
        if self._host_key_fn is None:
            return (access,)
        return self._host_key_fn(access, self._meta(q))

    def _evict_host(self, n: int, keep: int) -> int:
        """Free up to ``n`` host tokens from host-only tails, least recent program
        first (or by the order's ``host_key``, where it has one);
        returns the tokens freed."""
        freed = 0
        victims = sorted((self._host_key(q), q) for q, h in self._host.items()
                         if q != keep and q not in self._host_held and h > self._len.get(q, 0))
        for _, q in victims:
            take = min(n - freed, self._host[q] - self._len.get(q, 0))
            self._host[q] -= take
            self.host_used -= take
            freed += take
            if freed >= n:
                break
        return freed
