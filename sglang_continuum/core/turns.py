"""The call sequences of a turn's life, written once for every adapter.

The SGLang controller and the simulator's bridge translate their engine's events into
these functions; the functions make the policy's calls in one fixed order and apply the
lock actions through the adapter's :class:`KvLocks` (lock the finished turn's KV,
release a consumed, replaced, lapsed or dropped lock). An adapter adds no decision of
its own: the server and the simulator cannot drift apart.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from .inference import Arrival, ProgramInference
from .lock_table import HostHolds, Path, ProgramKey
from .policy import ContinuumPolicy, LockDecision


class KvLocks(Protocol):
    """How an adapter pins KV: SGLang's radix cache, or the simulator's prefix cache."""

    def lock(self, target: object) -> object:
        """Pin the KV of `target` (a tree node, a program) and return a new handle."""

    def unlock(self, handle: object) -> None:
        """Release a handle that lock() returned; each handle is released once."""

    def path(self, target: object) -> Path | None:
        """(Optional.) What lock(target) would pin: (segment id, tokens) per tree node from the root
        to `target`, so locks sharing a prefix count it once (LockTable); None: a cache
        without shared prefixes, the lock pins its context alone."""


class HostTier(KvLocks, Protocol):
    """KvLocks over a cache with a host-memory tier under the device pool."""

    def demote(self, handle: object) -> object | None:
        """Release `handle` (a lock() handle) and move its KV to host memory, freeing
        its device slots; returns a lock on the host copy, or None when the KV could
        not be demoted (the device lock is released either way)."""

    def unhold(self, host_handle: object) -> None:
        """Release a host lock that demote() returned; each is released once."""

    def host_free_tokens(self) -> float | None:
        """(Optional.) Tokens the host pool could take without evicting a host copy
        (pressure_scope "host_room"), the same on every TP rank; None: no host tier."""

    def host_capacity_tokens(self) -> float | None:
        """(Optional.) The tokens the device and host tiers hold together (host_locks
        "fits"): the host pool's size, plus the device pool's where the host holds
        only what the device evicted (write-back); None: no host tier."""


def host_capacity(locks: KvLocks) -> float | None:
    """What the tiers hold together, in tokens, where the cache has a host tier that
    says (HostTier.host_capacity_tokens)."""
    size = getattr(locks, "host_capacity_tokens", None)
    return None if size is None else size()


def host_free(locks: KvLocks) -> float | None:
    """The host pool's free tokens, where the cache has a host tier that says."""
    free = getattr(locks, "host_free_tokens", None)
    return None if free is None else free()


def context_evicted(cached_tokens: int, input_tokens: int) -> bool:
    """Did a turn find its context evicted? Less than half its prompt came from the
    cache (a coarse test: immune to the last token or page that is never cached)."""
    return cached_tokens * 2 < input_tokens


def start(policy: ContinuumPolicy, inference: ProgramInference | None,
          locks: KvLocks | None = None) -> None:
    """An adapter begins: the policy ranks requests without an id by the inference's
    first-turn share from the first request on, and knows the host pool's size."""
    if inference is not None:
        policy.set_first_turn_share(inference.share)
    if locks is not None:
        policy.set_host_capacity(host_capacity(locks))


def arrive(policy: ContinuumPolicy, key: ProgramKey, now: float) -> None:
    """A turn of program `key` (sent by the client) arrived."""
    policy.on_arrival(key, now)


def arrive_inferred(policy: ContinuumPolicy, inference: ProgramInference, tenant: str,
                    prompt: Sequence[int], request_id: str, now: float) -> Arrival | None:
    """A request of `tenant` with no program id arrived: infer its program (None: too
    short to key, a plain request the core never sees) and record the arrival."""
    found = inference.arrival(tenant, prompt, request_id, now)
    if found is None:
        return None
    if found.proven:  # a continued first turn moves the share
        policy.set_first_turn_share(inference.share)
    policy.on_arrival(found.key, now)
    return found


def admit(policy: ContinuumPolicy, locks: KvLocks, key: ProgramKey, now: float, *,
          waited_s: float, cached_tokens: int, input_tokens: int,
          preempted: bool = False) -> bool:
    """A waiting turn of `key` was admitted, reusing `cached_tokens` of its prompt.

    It consumes its program's lock (returns True when there was one). A later turn
    that found its context evicted samples the queueing delay T of the cost model (not
    a re-admission after a preemption: its wait includes the time it ran).
    """
    handle = policy.on_admitted(key, now)
    _unhold(locks, policy.host_holds, key)  # its KV is back on the device
    if handle is not None:
        locks.unlock(handle)
        return True
    evicted = context_evicted(cached_tokens, input_tokens)
    if not preempted:
        policy.resumed_unlocked(key, not evicted)
    if not preempted and policy.turns_done(key) and evicted:
        policy.record_queue_delay(waited_s)
    return False


def finish(policy: ContinuumPolicy, locks: KvLocks, key: ProgramKey, now: float, *,
           context_tokens: int, tool: str | None, last_turn: bool,
           ttl_hint_s: float | None, target: object | None,
           open_ended: bool = False, p_continue: float = 1.0) -> LockDecision:
    """A turn of `key` finished with `context_tokens` in the cache at `target` (None:
    nothing lockable, e.g. an empty prefix). Decide, lock, record, release the lock
    the new one replaced. After the program's last turn, a lock a concurrent turn set
    goes too."""
    # path() is optional: a cache without shared prefixes may leave it out.
    path_of = getattr(locks, "path", None)
    path = path_of(target) if path_of is not None and target is not None \
        and not last_turn else None
    extra = {} if path is None else {"path": path}
    decision = policy.on_finish(key, now, context_tokens, tool, last_turn, ttl_hint_s,
                                open_ended, p_continue, host_free(locks), **extra)
    if decision.reason == "last_turn":
        drop(policy, locks, key)
    elif decision.ttl_s > 0 and target is not None:
        handle = locks.lock(target)
        replaced = policy.set_lock(key, now, decision.ttl_s, context_tokens, handle, **extra)
        if replaced is not None:
            locks.unlock(replaced)
    return decision


def finish_inferred(policy: ContinuumPolicy, locks: KvLocks, inference: ProgramInference,
                    found: Arrival, now: float, *, prompt: Sequence[int],
                    output: Sequence[int], context_tokens: int, tool: str | None,
                    target: object | None) -> LockDecision:
    """A turn of an inferred program finished (`found`: its arrival's verdict; `tool`:
    the tool its output calls, None if none was detected). The inference decides
    whether it was the last turn and how likely its context is continued; then as
    finish()."""
    verdict = inference.finished(found.key, found.proven, tool, prompt, output, now)
    return finish(policy, locks, found.key, now, context_tokens=context_tokens, tool=tool,
                  last_turn=verdict.last_turn, ttl_hint_s=None, target=target,
                  open_ended=verdict.open_ended, p_continue=verdict.p_continue)


def drop(policy: ContinuumPolicy, locks: KvLocks, key: ProgramKey) -> bool:
    """The program is gone (abort, disconnect, last turn): release its lock, if any."""
    handle = policy.drop(key)
    _unhold(locks, policy.host_holds, key)
    if handle is None:
        return False
    locks.unlock(handle)
    return True


def drop_oldest(policy: ContinuumPolicy, locks: KvLocks) -> bool:
    """Deadlock breaker for an engine whose locks never give way: the lock held longest
    goes (ContinuumPolicy.drop_oldest). False when no lock is held."""
    dropped = policy.drop_oldest()
    if dropped is None:
        return False
    key, handle = dropped
    _unhold(locks, policy.host_holds, key)
    locks.unlock(handle)
    return True


def expire(policy: ContinuumPolicy, locks: KvLocks, now: float,
           inference: ProgramInference | None = None) -> int:
    """Release every lock past its TTL (with a host tier: demote its KV); returns how
    many. Host holds past their TTL go too, and first turns that were not continued
    within the continuation horizon count as plain traffic."""
    lapsed = policy.expired(now)
    for key, handle in lapsed:
        _give_way(policy, locks, key, handle)
    if policy.host_holds is not None:  # a lapsed lock's hold ends here too
        for host_handle in policy.host_holds.expired(now):
            locks.unhold(host_handle)
    if inference is not None and inference.expire(now, policy.continuation_horizon_s()):
        policy.set_first_turn_share(inference.share)
    return len(lapsed)


def relieve(policy: ContinuumPolicy, locks: KvLocks, head: ProgramKey | None = None,
            head_arrival: float | None = None, engine_idle: bool = True) -> bool:
    """Release one lock for memory pressure, the one the policy picks for the waiting
    head (None: decode pressure). False when no lock may give way."""
    released = policy.release_for_pressure(head, head_arrival, engine_idle,
                                           host_free(locks))
    if released is None:
        return False
    _give_way(policy, locks, *released)
    return True


def _give_way(policy: ContinuumPolicy, locks: KvLocks, key: ProgramKey,
              handle: object) -> None:
    """A lock lapsed or gave way: without a host tier its KV becomes ordinary cache;
    with one it moves to host memory (held there while the TTL lasts)."""
    holds = policy.host_holds
    if holds is None:
        locks.unlock(handle)
        return
    release = holds.demoted(key, locks.demote(handle))
    if release is not None:
        locks.unhold(release)


def _unhold(locks: KvLocks, holds: HostHolds | None, key: ProgramKey) -> None:
    handle = holds.take(key) if holds is not None else None
    if handle is not None:
        locks.unhold(handle)
