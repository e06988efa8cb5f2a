"""What the policy holds per program: the program table, the TTL locks (an expiry heap and
a pressure order), and with a host tier the host holds of locks that gave way.

Programs
--------
The program table: per-program state, bounded in size.

Locks
-----
The lock table: TTL locks by program, an expiry heap and a pressure order.

The bounds (lock budget, tenant share) count the tokens the locks pin, not the sum of
their contexts: a lock pins the path from the tree's root to its node, and programs that
share a system prompt share that path's first segments. Each lock carries its path as
segments (an id the cache gives a tree node, its token count); the table counts each
segment once while any lock holds it (a reference count per segment). A cache without
shared prefixes (the simulator's) gives no path: the lock's whole context is one
segment of its own. A segment keeps the length it had when first locked (a tree node
that splits later is still counted whole), so the count never falls below what is
pinned. The locked_tokens metric still sums the locks' contexts.

Both heaps use lazy deletion: an entry is live only while the lock it names still has
the same sequence number (and, for the pressure heaps, the same waiting state).

Host holds
----------
Host tier: what becomes of a TTL lock's KV when the lock lapses or gives way.

With a host tier under the device pool, the adapter demotes such KV to host memory
(device slots freed at once; the program's next turn loads it back) instead of leaving
it to device eviction. A lock that gave way under memory pressure belongs to a program
still inside its TTL (its tool has not come back): its host copy is held against host
eviction until that TTL ends, the program's next turn is admitted, or the program ends.
A lock that lapsed is past its TTL: demoted, and its hold ends at the same expiry pass.
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Hashable, Sequence


# Programs ----------------------------------------------------------------------------

ProgramKey = tuple[str, str]
"""(tenant, program_id)."""

Path = Sequence[tuple[Hashable, int]]
"""A lock's root-to-node path: (segment id, tokens) per tree node."""


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

    def values(self):
        """Every program, least recently seen first."""
        return self._programs.values()

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


# Locks -------------------------------------------------------------------------------

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
    held_since: float = 0.0  # set_at of the first of the locks this one replaced in turn
    path: tuple = ()  # ((tenant, segment id), tokens) per segment it pins


class LockTable:
    def __init__(self) -> None:
        self._locks: dict[ProgramKey, Lock] = {}
        self._expiry: list[tuple[float, int, ProgramKey]] = []
        # Index 0: programs not waiting, 1: waiting. Entries (-first_arrival, -seq, key).
        self._young: tuple[list, list] = ([], [])
        self._tokens = 0  # the locks' contexts, summed (the locked_tokens metric)
        self._pinned = 0  # tokens the locks pin, each segment once (the bounds)
        self._tenant_tokens: dict[str, int] = {}  # pinned, per tenant
        self._segments: dict[tuple, list[int]] = {}  # (tenant, id) -> [locks, tokens]
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
        """The locks' contexts, summed."""
        return self._tokens

    @property
    def pinned(self) -> int:
        """The tokens the locks pin: each shared segment once (what the bounds count)."""
        return self._pinned

    def tenant_tokens(self, tenant: str) -> int:
        """The tokens the locks of `tenant` pin (each shared segment once)."""
        return self._tenant_tokens.get(tenant, 0)

    def add(self, key: ProgramKey, expires_at: float, tokens: int, handle: object,
            set_at: float, first_arrival: float, waiting: bool,
            path: Path | None = None) -> Lock | None:
        """Insert the lock of `key` (`tokens` of context; `path`: the segments it pins,
        None: its context alone); returns the lock it replaced, if any."""
        self._seq += 1
        segments = self._segments_of(key, self._seq, tokens, path)
        # The new lock is counted before the old one goes: the path they share stays.
        for seg, n in segments:
            ref = self._segments.get(seg)
            if ref is None:
                self._segments[seg] = [1, n]
                self._count(key[0], n)
            else:
                ref[0] += 1
        previous = self.pop(key)
        self._tokens += tokens
        lock = Lock(key, expires_at, tokens, handle, set_at, first_arrival, self._seq, waiting,
                    held_since=set_at if previous is None else previous.held_since,
                    path=segments)
        self._locks[key] = lock
        heapq.heappush(self._expiry, (expires_at, lock.seq, key))
        self._push_young(lock)
        return previous

    def pop(self, key: ProgramKey) -> Lock | None:
        lock = self._locks.pop(key, None)
        if lock is not None:
            self._tokens -= lock.tokens
            segments = self._segments
            for seg, _ in lock.path:
                ref = segments[seg]
                ref[0] -= 1
                if not ref[0]:
                    del segments[seg]
                    self._count(key[0], -ref[1])
            self._compact()
        return lock

    def refusal(self, key: ProgramKey, tokens: int, program_cap: float, tenant_cap: float,
                budget: float, path: Path | None = None) -> str | None:
        """The bound a new lock of `tokens` for `key` (pinning `path`, as add() takes
        it) would break: per_program_cap, then the tighter of tenant_share and
        lock_budget; None when it fits. The lock it replaces
        counts as gone; a segment another lock pins costs nothing more."""
        if tokens > program_cap:
            return "per_program_cap"
        held = self._locks.get(key)
        new = self._segments_of(key, self._seq + 1, tokens, path)
        new_ids = {seg for seg, _ in new}
        added = sum(n for seg, n in new if seg not in self._segments)
        freed = 0 if held is None else sum(
            self._segments[seg][1] for seg, _ in held.path
            if seg not in new_ids and self._segments[seg][0] == 1)
        # Where both would refuse, the tighter cap is named (the budget when equal).
        for name in (("tenant_share", "lock_budget") if tenant_cap < budget
                     else ("lock_budget", "tenant_share")):
            held_now = self._pinned if name == "lock_budget" else self.tenant_tokens(key[0])
            if held_now - freed + added > (budget if name == "lock_budget" else tenant_cap):
                return name
        return None

    @staticmethod
    def _segments_of(key: ProgramKey, seq: int, tokens: int, path: Path | None) -> tuple:
        if path is None:
            return ((("lock", key[0], seq), tokens),)
        return tuple(((key[0], seg), int(n)) for seg, n in path)

    def _count(self, tenant: str, n: int) -> None:
        self._pinned += n
        left = self._tenant_tokens.get(tenant, 0) + n
        if left:
            self._tenant_tokens[tenant] = left
        else:
            self._tenant_tokens.pop(tenant, None)  # zero-token locks leave no entry

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
        self._tokens = self._pinned = 0
        self._tenant_tokens.clear()
        self._segments.clear()
        return out

    def pop_expired(self, now: float, park_limit_s: float = math.inf) -> list[Lock]:
        """Remove and return locks with expires_at < now, earliest first.

        A lock whose program is waiting is parked instead: it stays until the turn is
        admitted, dropped, or its program stops waiting, but never past expires_at +
        `park_limit_s`.
        """
        out = []
        heap = self._expiry
        while heap and heap[0][0] < now:
            due, seq, key = heapq.heappop(heap)
            lock = self._locks.get(key)
            if lock is None or lock.seq != seq:
                continue
            if lock.waiting:
                deadline = lock.expires_at + park_limit_s
                if due < deadline:
                    lock.parked = True
                    if deadline < math.inf:  # back in the heap at its last moment
                        heapq.heappush(heap, (deadline, seq, key))
                    continue
            out.append(self.pop(key))
        return out

    def tokens_younger_than(self, younger_than: float, enough: float = math.inf,
                            kept: Path | None = None) -> int:
        """Tokens that removing every lock pop_youngest(younger_than) could remove would
        unpin, summed until `enough` is reached: each segment once, and only the segments
        no other lock pins (a shared prefix that an older lock also holds stays pinned),
        nor `kept` (segments pinned anyway, as add() takes a path: the waiting head's
        matched prefix). A scan: only when the head request does not fit."""
        removed: dict[tuple, int] = {}  # segment -> the removable locks that pin it
        for lock in self._locks.values():
            if lock.first_arrival > younger_than:
                for seg, _ in lock.path:
                    removed[seg] = removed.get(seg, 0) + 1
        # A path's segment is keyed (tenant, id) (_segments_of); tree node ids are unique
        # across tenants, so the id alone names it.
        kept_ids = {seg for seg, _ in kept} if kept else ()
        total = 0
        segments = self._segments
        for seg, locks in removed.items():
            held, tokens = segments[seg]
            if held == locks and not (len(seg) == 2 and seg[1] in kept_ids):
                total += tokens
                if total >= enough:
                    break
        return total

    def oldest(self) -> Lock | None:
        """The lock held longest (without a gap: a lock that replaced another counts
        from the first), of a program with no waiting turn first. A scan: for a deadlock
        breaker, not for every step."""
        return min(self._locks.values(), default=None,
                   key=lambda lock: (lock.waiting, lock.held_since, lock.seq))

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
        if waiting is None:  # an expiry entry: a parked lock keeps its deadline's
            return True
        return lock.waiting == waiting


# Host holds --------------------------------------------------------------------------

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
