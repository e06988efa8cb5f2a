"""TTL locks never leak, never deadlock, and keep the KV pool's books exact.

Hypothesis drives random interleavings of agent-program turns through the adapter's
Controller and the REAL radix cache (ContinuumRadixCache, a UnifiedRadixCache over a
real token-to-KV pool allocator on the CPU, with SGLang's own match / lock / release
functions). Only the scheduler is played by this file, following what SGLang 0.5.23's
scheduler and the overlay's hooks do: match the prefix, lock it, release locks
youngest-first when the request does not fit, allocate (evicting), decode one token at a
time, then ``release_kv_cache`` (which calls ``on_release``). The clock is fake.

After every step: free + evictable + protected + tokens owned by running requests ==
pool size; protected == the union of the paths locked by running requests and TTL locks;
every TTL lock belongs to a live program; no tree lock is released twice; bounds hold.
At the end (every program ended, every TTL passed): zero locked tokens, the pool back
to its empty-state size.

With a host tier (``HostLockLifecycle``): the same cache with SGLang's hierarchical
cache attached (``init_hicache``, as ``--enable-hierarchical-cache`` builds it: a host KV
pool, write-through backups, load-back of host hits; patches/0012 runs it on the CPU
device), the policy's host tier on: locks that lapse or give way demote their KV to
host memory, held there until their TTL ends. Also after every step: every host hold
is one live host lock on a backed-up node, none outlives its TTL, no lock its TTL plus
the age cap; at the end the host pool's books balance too.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import random
from array import array

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sglang")

from hypothesis import HealthCheck, event, given, settings, strategies as st  # noqa: E402
from hypothesis.errors import InvalidArgument  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sglang.srt.managers.schedule_batch import FINISH_ABORT, FINISH_LENGTH, Req  # noqa: E402
from sglang.srt.mem_cache.allocation import alloc_token_slots  # noqa: E402
from sglang.srt.mem_cache.allocator import TokenToKVPoolAllocator  # noqa: E402
from sglang.srt.mem_cache.base_prefix_cache import EvictParams, InitLoadBackParams  # noqa: E402
from sglang.srt.mem_cache.cache_init_params import CacheInitParams  # noqa: E402
from sglang.srt.mem_cache.common import release_kv_cache  # noqa: E402
from sglang.srt.mem_cache.memory_pool import MHATokenToKVPool, ReqToTokenPool  # noqa: E402
from sglang.srt.mem_cache.unified_cache.components.base import ComponentType  # noqa: E402
from sglang.srt.sampling.sampling_params import SamplingParams  # noqa: E402
from sglang.srt.server_args import (  # noqa: E402
    ServerArgs,
    set_global_server_args_for_scheduler,
)

from sglang_continuum.adapter.cache import ContinuumRadixCache  # noqa: E402
from sglang_continuum.adapter.controller import Controller  # noqa: E402
from sglang_continuum.core import PolicyConfig  # noqa: E402
from sglang_continuum.adapter.settings import Settings  # noqa: E402
from sglang_continuum.core.tenants import tenant  # noqa: E402

POOL = 512
MAX_INPUT = POOL // 4  # a lone request always fits once every lock has given way
MAX_RUNNING = 3
TENANTS = ("", "acme", "globex")

# The HiCache fields are read only where a host tier is attached (build_cache): the
# direct io backend and the layer-first layout are what the CPU device runs.
HICACHE = dict(device="cpu", hicache_io_backend="direct", hicache_mem_layout="layer_first",
               hicache_ratio=2.0, hicache_write_policy="write_through")
set_global_server_args_for_scheduler(ServerArgs(model_path="dummy", page_size=1, **HICACHE))


class TrackedCache(ContinuumRadixCache):
    """The real cache; lock()/unlock() also record every TreeLock given out, so a
    double release (a lock count going negative) or a lost lock is seen at once."""

    def __init__(self, params):
        super().__init__(params)
        self.live_locks: dict[int, object] = {}
        self.released_locks: set[int] = set()
        self.live_host_locks: dict[int, object] = {}  # demote()'s host locks

    def lock(self, node_id, skip_lock_components=()):
        handle = super().lock(node_id, skip_lock_components)
        if handle is not None:
            self.live_locks[id(handle)] = handle
        return handle

    def unlock(self, lock):
        if lock is not None:
            assert id(lock) in self.live_locks, "a tree lock was released twice"
            del self.live_locks[id(lock)]
        super().unlock(lock)

    def demote(self, handle):
        host = super().demote(handle)
        if host is not None:
            self.live_host_locks[id(host)] = host
        return host

    def unhold(self, host_handle):
        assert id(host_handle) in self.live_host_locks, "a host lock was released twice"
        del self.live_host_locks[id(host_handle)]
        super().unhold(host_handle)


def build_cache(host_tier: bool = False, write_policy: str = "write_through"):
    req_pool = ReqToTokenPool(size=MAX_RUNNING + 2, max_context_len=2 * POOL, device="cpu",
                              enable_memory_saver=False)
    kv = MHATokenToKVPool(size=POOL, page_size=1, dtype=torch.bfloat16, head_num=1,
                          head_dim=8, layer_num=1, device="cpu", enable_memory_saver=False)
    allocator = TokenToKVPoolAllocator(size=POOL, dtype=torch.bfloat16, device="cpu",
                                       kvcache=kv, need_sort=False)
    params = CacheInitParams(disable=False, req_to_token_pool=req_pool,
                             token_to_kv_pool_allocator=allocator, page_size=1,
                             tree_components=(ComponentType.FULL,))
    cache = TrackedCache(params)
    if host_tier:
        # Published again here: another test module may have published its own server
        # args since this one was imported (HiCache's host pool reads the io backend
        # from them).
        hicache = {**HICACHE, "hicache_write_policy": write_policy}
        set_global_server_args_for_scheduler(ServerArgs(model_path="dummy", page_size=1,
                                                        **hicache))
        cache.init_hicache(ServerArgs(model_path="dummy", page_size=1,
                                      enable_hierarchical_cache=True, **hicache), params)
        assert cache.has_host_tier
    return cache, allocator, req_pool


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class Program:
    def __init__(self, tenant: str, pid: str, salt: bool):
        self.tenant, self.pid, self.salt = tenant, pid, salt
        self.context: list[int] = []  # tokens of the last finished turn (its full context)
        self.turns_sent = 0
        self.ended = False  # its last turn finished: the program no longer exists
        self.vanished = False  # never comes back; its lock may live out its TTL
        self.inflight: list[Req] = []

    @property
    def key(self):
        # SGLang's namespaces: the same string as a salt or as an extra key is another
        # tenant (core/tenants.py).
        return (tenant(self.tenant, None) if self.salt else tenant(None, self.tenant),
                self.pid)


class LockLifecycle(RuleBasedStateMachine):
    """One server's worth of scheduler events, chosen at random."""

    HOST_TIER = False
    WRITE_POLICY = "write_through"  # HiCache's, where HOST_TIER

    @initialize(policy=st.sampled_from(["hold", "fixed", "paper"]),
                fixed_ttl=st.floats(0.5, 8.0), max_ttl=st.floats(1.0, 20.0),
                budget=st.sampled_from([0.25, 0.5, 0.9]),
                per_program=st.sampled_from([0.1, 0.25, 0.5]),
                tenant_share=st.sampled_from([0.3, 1.0]), seed=st.integers(0, 2**16),
                scope=st.sampled_from(["younger", "any", "host_room"]),
                host_locks=st.sampled_from(["always", "room", "learned", "fits"]),
                running_ratio=st.sampled_from([0.0, 0.0, 1.0]), drop_ended=st.booleans())
    def setup(self, policy, fixed_ttl, max_ttl, budget, per_program, tenant_share, seed,
              scope="younger", host_locks="always", running_ratio=0.0, drop_ended=False):
        self.cache, self.allocator, self.req_pool = build_cache(self.HOST_TIER,
                                                                self.WRITE_POLICY)
        self.clock = Clock()
        self.settings = Settings.from_mapping(dict(
            policy=policy, fixed_ttl_s=fixed_ttl, max_ttl_s=max_ttl,
            lock_budget_fraction=budget, per_program_max_fraction=per_program,
            per_tenant_fraction=tenant_share, cold_start_samples=5,
            prefill_profile={"a": 5.0, "b": 1e-3, "c": 0.0}, status_interval_s=0,
            pressure_scope=scope, host_locks=host_locks, host_hit_window=4,
            lock_running_ratio=running_ratio, drop_ended=drop_ended))
        self.host_pool = None
        if self.HOST_TIER:  # as the cache factory turns it on for a HiCache server
            self.settings = dataclasses.replace(self.settings, policy=dataclasses.replace(
                self.settings.policy, host_tier=True))
            self.host_pool = self.cache.cache_controller.mem_pool_host
            self.host_free = self.host_pool.available_size()
        self.ctl = Controller(self.cache, self.settings, capacity_tokens=POOL,
                              clock=self.clock)
        self.cache.continuum = self.ctl
        self.rng = random.Random(seed)
        self.programs: list[Program] = []
        self.waiting: list[Req] = []
        self.running: list[Req] = []
        self.owner: dict[int, Program | None] = {}  # id(req) -> program
        self.rids = itertools.count()
        self.max_wait_steps = 0
        self.head_stuck = 0

    # --- requests --------------------------------------------------------------------
    def _req(self, ids: list[int], max_new: int, program: Program | None, last=False,
             ttl=None, tool=None) -> Req:
        custom = None
        extra = {}
        if program is not None:
            custom = {"program_id": program.pid, "last_turn": last}
            if ttl is not None:
                custom["cache_control"] = {"type": "ephemeral", "ttl": ttl}
            if tool is not None:
                custom["tool"] = tool
            if program.tenant:
                extra = {"cache_salt": program.tenant} if program.salt else \
                    {"extra_key": program.tenant}
        req = Req(rid=f"r{next(self.rids)}", origin_input_text="",
                  origin_input_ids=array("q", ids),
                  sampling_params=SamplingParams(temperature=0, max_new_tokens=max_new,
                                                 custom_params=custom), **extra)
        self.owner[id(req)] = program
        return req

    def _fresh(self, n: int) -> list[int]:
        return [self.rng.randrange(10, 30000) for _ in range(n)]

    def _queue(self, req: Req) -> None:
        self.ctl.on_queued(req, is_retracted=False)
        req._wait_steps = 0
        self.waiting.append(req)
        self.schedule()  # the scheduler loop runs between client events

    # --- client side -----------------------------------------------------------------
    @rule(tenant=st.sampled_from(TENANTS), pid=st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h"]),
          salt=st.booleans(), n=st.integers(1, MAX_INPUT // 2),
          max_new=st.integers(1, 24), ttl=st.sampled_from([None, None, 0, 0.5, 3, "2s",
                                                           "1m", 1e9]),
          last=st.booleans())
    def new_program(self, tenant, pid, salt, n, max_new, ttl, last):
        prog = Program(tenant, pid, salt)
        if any(p.key == prog.key and self._active(p) for p in self.programs):
            return  # one live incarnation per key (second_client shares one)
        self.programs.append(prog)
        self._send_turn(prog, self._fresh(n), max_new, last, ttl, None)

    def _send_turn(self, prog, ids, max_new, last, ttl, tool):
        req = self._req(ids[:MAX_INPUT], max_new, prog, last=last, ttl=ttl, tool=tool)
        prog.turns_sent += 1
        prog.inflight.append(req)
        self._queue(req)

    def _idle_programs(self):
        return [p for p in self.programs if self._active(p) and not p.inflight and p.context]

    @staticmethod
    def _active(p: Program) -> bool:
        return not p.ended and not p.vanished

    @precondition(lambda self: self._idle_programs())
    @rule(i=st.integers(0, 99), n=st.integers(1, 40), max_new=st.integers(1, 24),
          last=st.booleans(), ttl=st.sampled_from([None, None, 0.2, 5, "30s"]),
          tool=st.sampled_from([None, "bash", "cd", "pytest"]))
    def next_turn(self, i, n, max_new, last, ttl, tool):
        """The tool returned: the program's next turn extends its context."""
        progs = self._idle_programs()
        prog = progs[i % len(progs)]
        ids = prog.context + self._fresh(n)
        if len(ids) > MAX_INPUT:
            last = True  # programs end before outgrowing the test's request bound
        self._send_turn(prog, ids, max_new, last, ttl, tool)

    @precondition(lambda self: any(p.context and self._active(p) for p in self.programs))
    @rule(i=st.integers(0, 99), n=st.integers(0, 30), last=st.booleans(),
          stale=st.booleans())
    def duplicate_or_out_of_order_turn(self, i, n, last, stale):
        """A retried turn (same context) or one built on an older context, sent while
        another turn of the same program may still be in flight."""
        progs = [p for p in self.programs if p.context and self._active(p)]
        prog = progs[i % len(progs)]
        base = prog.context[: len(prog.context) // 2] if stale else prog.context
        self._send_turn(prog, base + self._fresh(n), 4, last, "10s", None)

    @rule(n=st.integers(1, MAX_INPUT), max_new=st.integers(1, 16))
    def stock_request(self, n, max_new):
        """Competing traffic without a program: puts the pool under pressure."""
        self._queue(self._req(self._fresh(n), max_new, None))

    @precondition(lambda self: self.waiting)
    @rule(i=st.integers(0, 99))
    def abort_waiting(self, i):
        """POST /abort_request (or a disconnect) while the turn is still queued."""
        req = self.waiting.pop(i % len(self.waiting))
        req.finished_reason = FINISH_ABORT()
        self.ctl.on_aborted(req)  # Scheduler._release_aborted_request
        self._gone(req, aborted=True)
        self.schedule()

    @precondition(lambda self: self.running)
    @rule(i=st.integers(0, 99), path=st.sampled_from(["finish", "chunked", "decode"]))
    def abort_running(self, i, path):
        """Abort mid-prefill or mid-decode (client abort or disconnect): SGLang finishes
        the request with FINISH_ABORT; a chunked prefill is dropped without an insert."""
        req = self.running.pop(i % len(self.running))
        req.finished_reason = FINISH_ABORT()
        if path == "chunked":
            self.ctl.on_aborted(req)
            release_kv_cache(req, self.cache, checkpoint=False)
        else:
            release_kv_cache(req, self.cache, checkpoint=True)
        self._gone(req, aborted=True)
        self.schedule()

    @precondition(lambda self: any(self._active(p) and not p.inflight for p in self.programs))
    @rule(i=st.integers(0, 99))
    def program_vanishes(self, i):
        """The program never comes back (a tool that never returns, a dead client)."""
        progs = [p for p in self.programs if self._active(p) and not p.inflight]
        progs[i % len(progs)].vanished = True

    @precondition(lambda self: any(self._active(p) for p in self.programs))
    @rule(i=st.integers(0, 99), n=st.integers(1, MAX_INPUT // 2), last=st.booleans())
    def second_client(self, i, n, last):
        """Another client sends a turn under the same program id (and tenant) with a
        context of its own: one program key, two conversations."""
        progs = [p for p in self.programs if self._active(p)]
        self._send_turn(progs[i % len(progs)], self._fresh(n), 4, last, "30s", "bash")

    # --- scheduler side ----------------------------------------------------------------
    @precondition(lambda self: self.running)
    @rule(i=st.integers(0, 99))
    def retract(self, i):
        """Decode memory ran out and locks could not make room: SGLang retracts a
        running request (ScheduleBatch.release_req: its KV released without an insert)
        and queues it again, retracted; it is prefilled anew when admitted."""
        req = self.running.pop(i % len(self.running))
        release_kv_cache(req, self.cache, checkpoint=False)
        req.reset_for_retract()
        del req.output_ids[:]  # the harness re-prefills the prompt alone
        self.ctl.on_queued(req, is_retracted=True)
        self.waiting.append(req)
        self.schedule()

    @rule(dt=st.sampled_from([0.0, 0.1, 0.5, 2.0, 7.0, 30.0]))
    def tick(self, dt):
        self.clock.t += dt
        self.ctl.tick()
        self.schedule()

    def schedule(self):
        """Scheduler.get_new_batch_prefill with the overlay's hooks, in miniature."""
        if self.HOST_TIER:  # each step polls HiCache's write-through and load-back acks
            self.cache.check_hicache_events()
        self.ctl.tick()
        if not self.waiting:
            return
        self.ctl.sort_waiting(self.waiting)
        admitted = 0
        while self.waiting and len(self.running) < MAX_RUNNING:
            req = self.waiting[0]
            if not self._admit(req):
                break
            self.waiting.pop(0)
            self.running.append(req)
            admitted += 1
        if not self.running:
            assert admitted or not self.waiting, "deadlock: idle engine, nothing admitted"
        for req in self.waiting:
            req._wait_steps += 1
            self.max_wait_steps = max(self.max_wait_steps, req._wait_steps)

    def _admit(self, req: Req) -> bool:
        req.init_next_round_input(self.cache)
        need = len(req.origin_input_ids) - req.prefix_len
        reserve = need + req.sampling_params.max_new_tokens

        def fits():
            return (self.allocator.available_size() + self.cache.evictable_size()
                    - self._reserved_unallocated() >= reserve)

        req.lock = self.cache.lock(req.last_node)
        idle = not self.running or self.ctl.locks_outweigh(  # as hooks.around_add_one_req
            sum(len(r.origin_input_ids) + len(r.output_ids) for r in self.running))
        if not fits():  # hooks.around_add_one_req: locks give way first, if enough may
            deficit = reserve - (self.allocator.available_size() + self.cache.evictable_size()
                                 - self._reserved_unallocated())
            if self.ctl.pressure_could_fit(req, deficit, idle):
                while not fits() and self.ctl.relieve_pressure(req, idle):
                    pass
        if not fits():
            self.cache.unlock(req.lock)
            req.lock = None
            return False
        if self.HOST_TIER and req.host_hit_length > 0:
            self._load_back(req)
            need = len(req.origin_input_ids) - req.prefix_len
        self.ctl.on_admitted(req)
        self.req_pool.alloc([req])
        prefix = self.cache.prefix_device_indices(req)
        loc = alloc_token_slots(self.cache, need)
        row = req.kv.req_pool_idx
        self.req_pool.write((row, slice(0, req.prefix_len)), prefix)
        self.req_pool.write((row, slice(req.prefix_len, len(req.origin_input_ids))), loc)
        req.kv.kv_committed_len = req.kv.kv_allocated_len = len(req.origin_input_ids)
        req.extend_end = len(req.origin_input_ids)
        req._owned_base = req.prefix_len
        return True

    def _load_back(self, req: Req) -> None:
        """PrefillAdder.add_one_req's host hit: load the host-only part of the match back
        to the device (its slots come from the device pool, counted in `need`), then the
        request holds the loaded node; the copy lands by the next events poll."""
        loaded, last = self.cache.init_load_back(InitLoadBackParams(
            best_match_node=req.best_match_node, host_hit_length=req.host_hit_length,
            req=req))
        if loaded:
            self.cache.unlock(req.lock)
            req.host_loaded_length, req.last_node = loaded, last
            req.prefix_len += loaded
            req.kv.cache_protected_len = req.prefix_len
            req.lock = self.cache.lock(req.last_node)
        self.cache.ready_to_load_host_cache()
        self.cache.check_hicache_events()

    def _reserved_unallocated(self) -> int:
        """Decode tokens promised to running requests but not yet allocated."""
        return sum(r.sampling_params.max_new_tokens - len(r.output_ids) for r in self.running)

    @precondition(lambda self: self.running)
    @rule(i=st.integers(0, 99), steps=st.integers(1, 8))
    def decode(self, i, steps):
        req = self.running[i % len(self.running)]
        for _ in range(steps):
            if len(req.output_ids) >= req.sampling_params.max_new_tokens:
                break
            # check_decode_mem with the overlay: locks give way before retraction.
            while (self.allocator.available_size() + self.cache.evictable_size() < 1
                   and self.ctl.relieve_pressure()):
                pass
            loc = alloc_token_slots(self.cache, 1)
            n = req.kv.kv_allocated_len
            self.req_pool.write((req.kv.req_pool_idx, slice(n, n + 1)), loc)
            req.kv.kv_committed_len = req.kv.kv_allocated_len = n + 1
            req.output_ids.append(self.rng.randrange(10, 30000))

    @precondition(lambda self: self.running)
    @rule(i=st.integers(0, 99))
    def finish(self, i):
        req = self.running[i % len(self.running)]
        self.decode(i, req.sampling_params.max_new_tokens)
        self.running.remove(req)
        req.finished_reason = FINISH_LENGTH(length=len(req.output_ids))
        release_kv_cache(req, self.cache, checkpoint=True)
        self._gone(req, aborted=False)
        self.schedule()

    def _gone(self, req: Req, aborted: bool) -> None:
        prog = self.owner.pop(id(req))
        if prog is None:
            return
        prog.inflight.remove(req)
        if aborted:
            return  # the client may retry; the context it had stays its own
        prog.context = list(req.origin_input_ids) + list(req.output_ids)
        custom = req.sampling_params.custom_params
        if custom.get("last_turn"):
            prog.ended = True

    # --- invariants ----------------------------------------------------------------------
    @invariant()
    def pool_books_balance(self):
        if not hasattr(self, "cache"):
            return
        in_use = sum(r.kv.kv_allocated_len - r._owned_base for r in self.running)
        free = self.allocator.available_size()
        evictable, protected = self.cache.evictable_size(), self.cache.protected_size()
        assert min(free, evictable, protected) >= 0
        assert free + evictable + protected + in_use == POOL, \
            (free, evictable, protected, in_use)

    @invariant()
    def host_holds_are_owned_and_bounded(self):
        """Host tier: every host hold is one live host lock on a backed-up node, none
        outlives its lock's TTL (plus one age cap where the lock was parked for a
        waiting turn, as the lock itself), and no lock outlives its TTL plus the age cap (one
        parked while its program waits); the host pool never runs over."""
        if not hasattr(self, "cache"):
            return
        policy, now = self.ctl.policy, self.clock.t
        cap = self.settings.policy.queue_age_cap_s
        for lock in policy._locks._locks.values():
            assert now <= lock.expires_at + cap, "a lock outlived its TTL and the age cap"
        if not self.HOST_TIER:
            return
        holds = policy._holds._holds
        assert {id(h.handle) for h in holds.values()} == set(self.cache.live_host_locks)
        assert policy._holds.tokens == sum(h.tokens for h in holds.values())
        for hold in holds.values():
            assert now <= hold.until, "a host hold outlived its TTL"
            assert self.cache.is_backuped(hold.handle.node)
        assert 0 <= self.host_pool.available_size() <= self.host_free

    @invariant()
    def protected_is_exactly_what_is_locked(self):
        if not hasattr(self, "cache"):
            return
        locked_nodes = [h.node for h in self.cache.live_locks.values()]
        paths = set()
        for node in locked_nodes:
            paths.update(self.cache.path_device_indices(node).tolist())
        assert self.cache.protected_size() == len(paths)

    @invariant()
    def ttl_locks_are_owned_and_bounded(self):
        if not hasattr(self, "cache"):
            return
        policy = self.ctl.policy
        table = policy._locks._locks
        running_locks = {id(r.lock) for r in self.running if r.lock is not None}
        ttl_handles = {id(lock.handle) for lock in table.values()}
        # Every tree lock is a running request's or a TTL lock, never both, none lost.
        assert ttl_handles.isdisjoint(running_locks)
        assert set(self.cache.live_locks) == ttl_handles | running_locks
        # A vanished program may still be in its tool call: its lock lives out its TTL.
        # One whose last turn finished (and has no other turn in flight) is gone.
        live = {p.key for p in self.programs if not p.ended or p.inflight}
        for key, lock in table.items():
            # A request sent without an id is an inferred program ("~rid"): before the
            # server has seen first turns go uncontinued, its first turn may lock too.
            assert key in live or key[1].startswith("~"), \
                f"lock held for {key}, a program that no longer exists"
            prog = policy._programs.get(key)
            assert prog is not None and prog.locked
            assert lock.tokens <= policy._program_cap
        snap = policy.snapshot()
        # The bounds count what the TTL locks pin (each shared tree segment once): at
        # least their paths' union, at most the sum of their contexts (the metric).
        pinned = set()
        for lock in table.values():
            pinned.update(self.cache.path_device_indices(lock.handle.node).tolist())
        assert snap.locked_tokens == sum(lock.tokens for lock in table.values())
        assert len(pinned) <= policy._locks.pinned <= snap.locked_tokens
        assert policy._locks.pinned <= policy._budget
        for name in {key[0] for key in table}:
            assert policy._locks.tenant_tokens(name) <= policy._tenant_cap
        ttl_max = self.settings.policy.max_ttl_s
        for lock in table.values():
            assert lock.expires_at - lock.set_at <= ttl_max + 1e-9

    def teardown(self):
        if not hasattr(self, "cache"):
            return
        # Every request completes (the engine drains); programs end or vanish.
        guard = 0
        while self.waiting or self.running:
            guard += 1
            assert guard < 10_000, "the queue never drained"
            if self.running:
                req = self.running[0]
                self.decode(0, req.sampling_params.max_new_tokens)
                self.finish(0)
            else:
                self.schedule()
        before = self.ctl.snapshot()
        for name in ("locks_set", "locks_consumed", "locks_lapsed", "locks_released_pressure",
                     "locks_dropped", "locks_refused", "ended_dropped_tokens"):
            try:
                event(f"{name} > 0: {getattr(before, name) > 0}")
            except InvalidArgument:  # driven by hand, outside Hypothesis
                break
        self.clock.t += self.settings.policy.max_ttl_s + 1.0
        self.ctl.tick()
        if self.HOST_TIER:
            self.cache.check_hicache_events()
        snap = self.ctl.policy.snapshot()
        assert snap.locked_tokens == 0 and snap.active_locks == 0
        assert snap.host_holds == 0 and snap.host_held_tokens == 0
        assert not self.cache.live_locks and not self.cache.live_host_locks
        assert self.cache.protected_size() == 0
        assert self.allocator.available_size() + self.cache.evictable_size() == POOL
        self.cache.evict(EvictParams(num_tokens=POOL))
        assert self.allocator.available_size() == POOL
        assert self.cache.evictable_size() == 0
        if self.HOST_TIER:  # nothing holds host memory now: all of it can be freed
            self.cache.evict_host(self.host_free)
            assert self.host_pool.available_size() == self.host_free
        self.cache.sanity_check()


LockLifecycle.TestCase.settings = settings(
    max_examples=int(os.environ.get("INVARIANT_EXAMPLES", "60")), stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestLockLifecycle = LockLifecycle.TestCase


# Long random episodes: the state machine above shrinks well but its short runs rarely
# reach memory pressure; these weighted walks of a few hundred events reach it in most.
OPS = (("new_program", 12), ("next_turn", 30), ("duplicate_or_out_of_order_turn", 5),
       ("stock_request", 10), ("abort_waiting", 3), ("abort_running", 4),
       ("program_vanishes", 3), ("tick", 10), ("decode", 8), ("finish", 25),
       ("second_client", 3), ("retract", 3))


def _episode_step(m: LockLifecycle, rng: random.Random) -> None:
    names, weights = zip(*OPS)
    name = rng.choices(names, weights)[0]
    i = rng.randrange(100)
    if name == "new_program":
        m.new_program(rng.choice(TENANTS), rng.choice("abcdefghijkl"), rng.random() < 0.5,
                      rng.randint(16, MAX_INPUT // 2), rng.randint(1, 24),
                      rng.choice([None, None, 0, 0.5, 3, "2s", "1m", 1e9]), rng.random() < 0.1)
    elif name == "next_turn" and m._idle_programs():
        m.next_turn(i, rng.randint(1, 40), rng.randint(1, 24), rng.random() < 0.15,
                    rng.choice([None, None, 0.2, 5, "30s"]),
                    rng.choice([None, "bash", "cd", "pytest"]))
    elif name == "duplicate_or_out_of_order_turn" and any(
            p.context and m._active(p) for p in m.programs):
        m.duplicate_or_out_of_order_turn(i, rng.randint(0, 30), rng.random() < 0.3,
                                         rng.random() < 0.5)
    elif name == "stock_request":
        m.stock_request(rng.randint(MAX_INPUT // 2, MAX_INPUT), rng.randint(1, 16))
    elif name == "abort_waiting" and m.waiting:
        m.abort_waiting(i)
    elif name == "abort_running" and m.running:
        m.abort_running(i, rng.choice(["finish", "chunked", "decode"]))
    elif name == "program_vanishes" and any(m._active(p) and not p.inflight
                                            for p in m.programs):
        m.program_vanishes(i)
    elif name == "tick":
        m.tick(rng.choice([0.0, 0.1, 0.5, 2.0, 7.0, 30.0]))
    elif name == "decode" and m.running:
        m.decode(i, rng.randint(1, 8))
    elif name == "finish" and m.running:
        m.finish(i)
    elif name == "second_client" and any(m._active(p) for p in m.programs):
        m.second_client(i, rng.randint(16, MAX_INPUT // 2), rng.random() < 0.2)
    elif name == "retract" and m.running:
        m.retract(i)


EPISODE = dict(policy=st.sampled_from(["hold", "fixed", "paper"]), fixed_ttl=st.floats(0.5, 8.0),
               max_ttl=st.floats(1.0, 20.0), budget=st.sampled_from([0.25, 0.5, 0.9]),
               per_program=st.sampled_from([0.1, 0.25, 0.5]),
               tenant_share=st.sampled_from([0.3, 1.0]), seed=st.integers(0, 2**32 - 1),
               steps=st.integers(50, 300), scope=st.sampled_from(["younger", "any", "host_room"]),
               drop_ended=st.booleans())


def _episode(machine, policy, fixed_ttl, max_ttl, budget, per_program, tenant_share, seed,
             steps, scope, drop_ended):
    m = machine()
    m.setup(policy=policy, fixed_ttl=fixed_ttl, max_ttl=max_ttl, budget=budget,
            per_program=per_program, tenant_share=tenant_share, seed=seed, scope=scope,
            drop_ended=drop_ended)
    rng = random.Random(seed)
    held = 0  # the most host holds at once
    for _ in range(steps):
        _episode_step(m, rng)
        m.pool_books_balance()
        m.protected_is_exactly_what_is_locked()
        m.ttl_locks_are_owned_and_bounded()
        m.host_holds_are_owned_and_bounded()
        held = max(held, len(m.ctl.policy._holds))
    demoted = m.ctl.policy.snapshot().locks_demoted
    m.teardown()
    return demoted, held


@settings(max_examples=int(os.environ.get("INVARIANT_EPISODES", "80")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(**EPISODE)
def test_random_episodes_keep_the_books(**episode):
    _episode(LockLifecycle, **episode)


class HostLockLifecycle(LockLifecycle):
    """The same events over a cache with a host tier (SGLang's HiCache)."""

    HOST_TIER = True


# Fewer runs than without a host tier: the scenarios are the same, the host tier's
# paths (demote, hold, load back) are reached in most long episodes.
HostLockLifecycle.TestCase.settings = settings(
    max_examples=int(os.environ.get("INVARIANT_HOST_EXAMPLES", "20")), stateful_step_count=50,
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestHostLockLifecycle = HostLockLifecycle.TestCase


@settings(max_examples=int(os.environ.get("INVARIANT_HOST_EPISODES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(**EPISODE)
def test_random_episodes_keep_the_books_with_a_host_tier(**episode):
    demoted, held = _episode(HostLockLifecycle, **episode)
    event(f"locks_demoted > 0: {demoted > 0}")
    event(f"host_holds > 0: {held > 0}")


class WriteBackLockLifecycle(HostLockLifecycle):
    """The host tier with HiCache's write_back: the device's KV reaches host memory only
    when evicted (or demoted), so drop_ended drops unbacked nodes without a copy."""

    WRITE_POLICY = "write_back"


@settings(max_examples=int(os.environ.get("INVARIANT_HOST_EPISODES", "40")) // 2,
          deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**EPISODE)
def test_random_episodes_keep_the_books_with_a_write_back_host_tier(**episode):
    demoted, _ = _episode(WriteBackLockLifecycle, **episode)
    event(f"locks_demoted > 0: {demoted > 0}")


def test_the_host_pools_free_slots_are_what_the_host_room_scope_reads():
    """The adapter reads HiCache's own host pool: its free slots, fewer once a lock's
    KV was demoted there; None without a host tier."""
    assert build_cache()[0].host_free_tokens() is None
    m = HostLockLifecycle()
    m.setup(policy="fixed", fixed_ttl=10.0, max_ttl=20.0, budget=0.9, per_program=0.5,
            tenant_share=1.0, seed=3, scope="host_room")
    pool = m.cache.cache_controller.mem_pool_host
    free = m.cache.host_free_tokens()
    assert free == pool.available_size() > 0
    m.new_program(tenant="", pid="a", salt=False, n=100, max_new=8, ttl=None, last=False)
    m.finish(0)
    for _ in range(MAX_RUNNING):  # other work fills the pool: the lock gives way
        m.stock_request(MAX_INPUT, 16)
    assert m.ctl.policy.snapshot().locks_demoted == 1
    assert m.cache.host_free_tokens() == pool.available_size() <= free - 100
    while m.running:
        m.finish(0)
    m.teardown()


def test_a_held_lock_is_protected_from_eviction():
    """The harness can fail: with a TTL lock held, eviction cannot take the context."""
    cache, allocator, req_pool = build_cache()
    clock = Clock()
    ctl = Controller(cache, Settings(PolicyConfig(mode="fixed", fixed_ttl_s=5.0), 0),
                     capacity_tokens=POOL, clock=clock)
    cache.continuum = ctl
    req = Req(rid="x", origin_input_text="", origin_input_ids=array("q", range(10, 110)),
              sampling_params=SamplingParams(max_new_tokens=1,
                                             custom_params={"program_id": "p"}))
    ctl.on_queued(req, False)
    req.init_next_round_input(cache)
    req.lock = cache.lock(req.last_node)
    ctl.on_admitted(req)
    req_pool.alloc([req])
    req_pool.write((req.kv.req_pool_idx, slice(0, 100)), alloc_token_slots(cache, 100))
    req.kv.kv_committed_len = req.kv.kv_allocated_len = 100
    req.output_ids.append(7)
    req.finished_reason = FINISH_LENGTH(length=1)
    release_kv_cache(req, cache, checkpoint=True)
    # The bounds count what the lock pins (the tree path); the metric its context.
    assert cache.protected_size() == ctl.policy._locks.pinned == 100
    assert ctl.policy.snapshot().locked_tokens == 101
    cache.evict(EvictParams(num_tokens=POOL))
    assert cache.protected_size() == 100 and allocator.available_size() == POOL - 100
    clock.t += 5.5
    ctl.tick()
    assert cache.protected_size() == 0 and cache.evictable_size() == 100


def test_a_turn_finishing_after_its_programs_last_turn_leaves_no_lock():
    """Found by the state machine above: a duplicate turn sent before the last turn and
    finishing after it re-created the ended program and locked its KV."""
    m = LockLifecycle()
    m.setup(policy="fixed", fixed_ttl=5.0, max_ttl=20.0, budget=0.9, per_program=0.5,
            tenant_share=1.0, seed=1)
    m.new_program(tenant="", pid="a", salt=False, n=50, max_new=4, ttl=None, last=False)
    m.schedule()
    m.finish(0)
    assert m.ctl.policy.snapshot().active_locks == 1
    m.duplicate_or_out_of_order_turn(i=0, n=5, last=False, stale=False)
    m.duplicate_or_out_of_order_turn(i=0, n=5, last=True, stale=False)
    m.schedule()
    assert len(m.running) == 2
    m.finish(1)  # the last turn
    m.ttl_locks_are_owned_and_bounded()
    m.finish(0)  # the straggler
    m.ttl_locks_are_owned_and_bounded()
    assert m.ctl.policy.snapshot().active_locks == 0
    assert m.cache.protected_size() == 0
    m.teardown()


def test_a_lock_that_gives_way_is_held_on_host_and_loaded_back():
    """Host tier, step by step: a program's lock gives way to other work, its KV goes
    to host memory and is held there; its next turn loads it back from the host (a
    prefix hit, not a prefill) and the hold ends."""
    m = HostLockLifecycle()
    m.setup(policy="fixed", fixed_ttl=10.0, max_ttl=20.0, budget=0.9, per_program=0.5,
            tenant_share=1.0, seed=3, scope="any")
    m.new_program(tenant="", pid="a", salt=False, n=100, max_new=8, ttl=None, last=False)
    m.finish(0)
    policy = m.ctl.policy
    assert policy.snapshot().active_locks == 1
    for _ in range(MAX_RUNNING):  # other work fills the pool: the lock gives way
        m.stock_request(MAX_INPUT, 16)
    snap = policy.snapshot()
    assert snap.locks_released_pressure == 1 and snap.locks_demoted == 1
    assert snap.host_holds == 1 and len(m.cache.live_host_locks) == 1
    m.host_holds_are_owned_and_bounded()
    m.pool_books_balance()
    m.protected_is_exactly_what_is_locked()
    while m.running:
        m.finish(0)
    key = m.programs[0].key
    assert key in policy._holds._holds
    m.next_turn(i=0, n=10, max_new=4, last=True, ttl=None, tool=None)
    (req,) = m.running
    assert req.host_loaded_length >= 100  # its context came back from host memory
    assert key not in policy._holds._holds  # and its hold ended
    m.host_holds_are_owned_and_bounded()
    m.finish(0)
    m.teardown()


def _turn(cache, ctl, req_pool, ids, pid, last):
    """One turn through the real cache as the scheduler runs it (no pressure)."""
    req = Req(rid=f"{pid}-{len(ids)}", origin_input_text="", origin_input_ids=array("q", ids),
              sampling_params=SamplingParams(max_new_tokens=1, custom_params={
                  "program_id": pid, "last_turn": last}))
    ctl.on_queued(req, False)
    req.init_next_round_input(cache)
    req.lock = cache.lock(req.last_node)
    ctl.on_admitted(req)
    req_pool.alloc([req])
    row, n = req.kv.req_pool_idx, len(ids)
    req_pool.write((row, slice(0, req.prefix_len)), cache.prefix_device_indices(req))
    req_pool.write((row, slice(req.prefix_len, n)), alloc_token_slots(cache, n - req.prefix_len))
    req.kv.kv_committed_len = req.kv.kv_allocated_len = n
    req.output_ids.append(7)
    req.finished_reason = FINISH_LENGTH(length=1)
    release_kv_cache(req, cache, checkpoint=True)
    return req


def _ended_program_scene(host, drop):
    """B's turn, then A's two turns, A's sharing B's first 50 tokens; A's second turn
    is its last. Returns (device tokens B alone used, then all used at the end, the
    tokens drop_ended reports, the host pool's free slots, the cache)."""
    cache, allocator, req_pool = build_cache(host is not None, host or "write_through")
    ctl = Controller(cache, Settings(PolicyConfig(mode="off"), status_interval_s=0,
                                     drop_ended=drop), capacity_tokens=POOL, clock=Clock())
    cache.continuum = ctl
    shared = list(range(10, 60))
    _turn(cache, ctl, req_pool, shared + [5, 6], "B", last=False)
    b_used = POOL - allocator.available_size()
    a1 = shared + list(range(100, 150))
    _turn(cache, ctl, req_pool, a1, "A", last=False)
    _turn(cache, ctl, req_pool, a1 + [7] + list(range(200, 240)), "A", last=True)
    if host:
        cache.writing_check(write_back=True)
        cache.check_hicache_events()
    host_free = cache.cache_controller.mem_pool_host.available_size() if host else None
    assert allocator.available_size() + cache.evictable_size() == POOL
    cache.sanity_check()
    return b_used, POOL - allocator.available_size(), ctl.snapshot().ended_dropped_tokens, \
        host_free, cache


@pytest.mark.parametrize("host", [None, "write_through", "write_back"])
def test_an_ended_programs_own_kv_is_given_up_and_shared_kv_stays(host):
    """drop_ended: at A's last turn the device KV only A's context used goes at once;
    the prefix A shares with B (a live program) and B's own tail stay. Nothing new is
    written to the host tier (write_through's copies, made at insert, stay). Off,
    A's KV stays as ordinary cache."""
    b_used, used_off, dropped_off, host_off, _ = _ended_program_scene(host, drop=False)
    b_used2, used_on, dropped_on, host_on, cache = _ended_program_scene(host, drop=True)
    assert b_used == b_used2 and dropped_off == 0
    assert used_off > b_used  # A's own tokens stayed
    assert used_on == b_used and dropped_on == used_off - b_used > 0
    assert host_on == host_off
    if host == "write_back":
        assert host_on == cache.cache_controller.mem_pool_host.size  # no copy made
