"""The adapter's Controller with a fake cache and fake requests: it only translates,
so these tests check the translation (which node is locked, what is unlocked, when)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sglang_continuum.adapter.controller import Controller
from sglang_continuum.core import PolicyConfig
from sglang_continuum.adapter.settings import Settings


class FakeCache:
    def __init__(self):
        self.locked, self.unlocked = [], []

    def lock(self, node):
        handle = ("lock", node)
        self.locked.append(handle)
        return handle

    def unlock(self, handle):
        self.unlocked.append(handle)

    def is_root(self, node):
        return node == "root"


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def req(rid, program=None, n_in=100, n_out=10, last=False, ttl=None, salt=None, node=None):
    custom = None
    if program is not None:
        custom = {"program_id": program, "last_turn": last}
        if ttl is not None:
            custom["cache_control"] = {"type": "ephemeral", "ttl": ttl}
    return SimpleNamespace(
        rid=rid, sampling_params=SimpleNamespace(custom_params=custom, max_new_tokens=16),
        routing_key=None,
        cache_salt=salt, extra_key=None, origin_input_ids=[1] * n_in, output_ids=[2] * n_out,
        last_node=node or f"node-{rid}", prefix_len=0, is_retracted=False,
        finished_reason=None, finished=lambda: True)


@pytest.fixture
def ctl():
    clock = Clock()
    c = Controller(FakeCache(), Settings(PolicyConfig(per_program_max_fraction=0.5)),
                   capacity_tokens=1000, clock=clock)
    c.clock_ = clock
    return c


def test_finished_turn_locks_its_last_node_and_next_turn_consumes_it(ctl):
    r1 = req("r1", "p", ttl="30s")
    ctl.on_queued(r1, False)
    ctl.on_admitted(r1)
    ctl.on_release(r1, checkpointed=True)
    assert ctl.cache.locked == [("lock", "node-r1")]
    r2 = req("r2", "p", n_in=120)
    ctl.on_queued(r2, False)
    ctl.on_admitted(r2)
    assert ctl.cache.unlocked == [("lock", "node-r1")]


def test_plain_requests_and_retractions_never_lock(ctl):
    # Inference on (the default): a request without an id is an unproven first turn; once
    # such turns are seen uncontinued (plain traffic), it locks nothing.
    for i in range(2):
        plain = req(f"plain{i}")
        ctl.on_queued(plain, False)
        ctl.on_release(plain, checkpointed=True)
        ctl.clock_.t += 10.0  # past the continuation horizon
        ctl.tick()
    ctl.cache.locked.clear()
    assert ctl.inference.first_turns.p_continue == 0.0
    plain = req("s")
    ctl.on_queued(plain, False)
    ctl.on_release(plain, checkpointed=True)
    retracted = req("r", "p", ttl="30s")
    retracted.finished = lambda: False
    ctl.on_release(retracted, checkpointed=True)
    assert ctl.cache.locked == []


def test_lock_lapses_after_ttl(ctl):
    r1 = req("r1", "p", ttl="5s")
    ctl.on_queued(r1, False)
    ctl.on_release(r1, checkpointed=True)
    ctl.clock_.t += 4.0
    ctl.tick()
    assert ctl.cache.unlocked == []
    ctl.clock_.t += 2.0
    ctl.tick()
    assert ctl.cache.unlocked == [("lock", "node-r1")]


def test_pressure_releases_youngest_program_first(ctl):
    for i, name in enumerate(["old", "mid", "young"]):
        r = req(f"r{i}", name, ttl="60s")
        ctl.on_queued(r, False)
        ctl.clock_.t += 1
        ctl.on_release(r, checkpointed=True)
    assert ctl.relieve_pressure()
    assert ctl.cache.unlocked == [("lock", "node-r2")]
    assert ctl.relieve_pressure() and ctl.relieve_pressure()
    assert not ctl.relieve_pressure()


def test_abort_and_last_turn_release(ctl):
    r1 = req("r1", "p", ttl="60s")
    ctl.on_queued(r1, False)
    ctl.on_release(r1, checkpointed=True)
    # A queued turn is aborted (one refused before it was queued keeps the lock:
    # test_fairness.py).
    r2 = req("r2", "p")
    ctl.on_queued(r2, False)
    ctl.on_aborted(r2)
    assert ctl.cache.unlocked == [("lock", "node-r1")]
    last = req("r3", "q", ttl="60s", last=True)
    ctl.on_queued(last, False)
    ctl.on_release(last, checkpointed=True)
    assert ctl.cache.locked == [("lock", "node-r1")]


def test_tenants_are_separate_programs(ctl):
    a = req("a1", "same", ttl="60s", salt="tenant-a")
    ctl.on_queued(a, False)
    ctl.on_release(a, checkpointed=True)
    b = req("b2", "same", salt="tenant-b", last=True)
    ctl.on_queued(b, False)
    ctl.on_admitted(b)
    ctl.on_release(b, checkpointed=True)
    assert ctl.cache.unlocked == []


def test_waiting_queue_order(ctl):
    clock = ctl.clock_
    old = req("d1", "D", ttl="0s")  # first arrival earliest, no lock
    ctl.on_queued(old, False)
    ctl.on_release(old, checkpointed=True)
    a1 = req("a1", "A", ttl="60s")
    clock.t += 1
    ctl.on_queued(a1, False)
    ctl.on_release(a1, checkpointed=True)
    queue = []
    for label, program in [("S1", None), ("B1", "B"), ("D2", "D"), ("A2", "A")]:
        clock.t += 1
        r = req(label, program)
        ctl.on_queued(r, False)
        queue.append(r)
    pre = req("P", None)
    pre.is_retracted = True
    queue.append(pre)
    ctl.sort_waiting(queue)
    # plain request S1 ranks one queue age cap (60 s) before its arrival (default "aged"):
    # ahead of D, whose program began 3 s before it
    assert [r.rid for r in queue] == ["P", "A2", "S1", "D2", "B1"]


def test_queue_without_programs_keeps_sglang_order(ctl):
    queue = [req(f"s{i}") for i in range(3)]
    for r in reversed(queue):
        ctl.on_queued(r, False)
    ctl.sort_waiting(queue)
    assert [r.rid for r in queue] == ["s0", "s1", "s2"]


def test_a_cache_flush_forgets_locks_without_counting_them_as_pressure(ctl):
    for i, program in enumerate(("p", "q")):
        r = req(f"r{i}", program, ttl="30s")
        ctl.on_queued(r, False)
        ctl.on_admitted(r)
        ctl.on_release(r, checkpointed=True)
    before = ctl.snapshot()
    assert before.active_locks == 2
    ctl.forget_all_locks()
    after = ctl.snapshot()
    assert (after.active_locks, after.locked_tokens) == (0, 0)
    assert after.locks_released_pressure == before.locks_released_pressure == 0
    assert (after.locks_lapsed, after.locks_dropped) == (0, 0)
    assert after.contention == before.contention
    assert ctl.cache.unlocked == []  # the flushed tree's locks are gone, not released
    r = req("r2", "p", n_in=120)  # the program's next turn finds no lock to consume
    ctl.on_queued(r, False)
    ctl.on_admitted(r)
    assert ctl.cache.unlocked == [] and ctl.snapshot().locks_consumed == 0


def test_srpt_sorts_by_uncached_prefill_with_sglangs_prefix_match():
    clock = Clock()
    c = Controller(FakeCache(), Settings(PolicyConfig(queue_order="srpt",
                                                      program_fcfs=False)),
                   capacity_tokens=1000, clock=clock)
    queue = []
    # (rid, program, prompt tokens, tokens SGLang matched in calc_priority)
    for rid, program, n_in, matched in [("new_long", "A", 900, 0), ("cont", "B", 900, 850),
                                        ("new_short", "C", 120, 0)]:
        clock.t += 1
        r = req(rid, program, n_in=n_in, n_out=0)
        r.num_matched_prefix_tokens = matched
        c.on_queued(r, False)
        queue.append(r)
    c.sort_waiting(queue)
    # program_fcfs off still sorts under srpt: the continuation (50 uncached) first
    assert [r.rid for r in queue] == ["cont", "new_short", "new_long"]


def test_srpt_has_the_queue_matched_before_it_sorts_where_sglang_did_not():
    clock = Clock()
    c = Controller(FakeCache(), Settings(PolicyConfig(queue_order="srpt")),
                   capacity_tokens=1000, clock=clock)
    queue = []
    for rid, program in [("new", "A"), ("cont", "B")]:
        clock.t += 1
        r = req(rid, program, n_in=900, n_out=0)
        r.num_matched_prefix_tokens = 0   # stale: SGLang's fcfs matched nothing
        c.on_queued(r, False)
        queue.append(r)
    matched = {"new": 0, "cont": 850}

    def match(waiting):
        for r in waiting:
            r.num_matched_prefix_tokens = matched[r.rid]
    c.sort_waiting(list(queue))   # without a match the stale counts tie: program order
    c.sort_waiting(queue, match=match)
    assert [r.rid for r in queue] == ["cont", "new"]


def test_the_sort_reads_what_on_queued_kept_and_a_stranger_the_long_way():
    # sort_waiting reads each request's key inputs as on_queued kept them (its program's
    # queue key, arrival, tokens) and SGLang's matched prefix as it stands; a request
    # on_queued never saw is read the long way. Either way: the core's key order.
    from sglang_continuum.adapter.controller import program_of

    clock = Clock()
    c = Controller(FakeCache(), Settings(PolicyConfig(queue_order="srpt")),
                   capacity_tokens=100_000, clock=clock)
    clock.t += 1
    first = req("held1", "H", n_in=300, n_out=20)  # a turn that finishes and locks
    c.on_queued(first, False)
    c.on_admitted(first)
    c.on_release(first, checkpointed=True)
    queue = []
    for rid, program, n_in, matched in [("held2", "H", 400, 320), ("newA", "A", 900, 0),
                                        ("contB", "B", 700, 0), ("plain", None, 200, 0),
                                        ("newC", "C", 150, 0), ("pre", "D", 500, 100),
                                        ("pre2", "E", 300, 0)]:
        clock.t += 1
        r = req(rid, program, n_in=n_in, n_out=0)
        c.on_queued(r, False)
        r.num_matched_prefix_tokens = matched
        queue.append(r)
    # SGLang preempted two after 250 and 500 tokens of output: queued again, they
    # prefill their output too (650 and 800 tokens uncached; 400 and 300 without it)
    for r, out in zip(queue[-2:], (250, 500)):
        r.output_ids, r.is_retracted = [2] * out, True
        c.on_queued(r, True)
    queue[2].num_matched_prefix_tokens = 650  # its match moved after it was queued

    def reference(requests):
        key = c.policy.queue_key_fn(c.now())
        return [r.rid for r in sorted(requests, key=lambda r: key(
            None if program_of(r) is None else program_of(r).queue_key,
            r._continuum_arrival if hasattr(r, "_continuum_arrival") else c.now(),
            r.is_retracted,
            len(r.origin_input_ids) + len(r.output_ids) - r.num_matched_prefix_tokens))]

    fast = list(reversed(queue))
    c.sort_waiting(fast)
    assert [r.rid for r in fast] == reference(queue)
    assert [r.rid for r in fast][:4] == ["pre", "pre2", "held2", "contB"]
    clock.t += 1
    stranger = req("stranger", "Z", n_in=40, n_out=0)  # never seen by on_queued
    stranger.num_matched_prefix_tokens = 0
    slow = [stranger, *reversed(queue)]
    c.sort_waiting(slow)
    assert [r.rid for r in slow] == reference([*queue, stranger])


class DroppingCache(FakeCache):
    def __init__(self):
        super().__init__()
        self.dropped = []

    def drop_ended(self, node):
        self.dropped.append(node)
        return 7


@pytest.mark.parametrize("on", [True, False])
def test_an_explicit_last_turn_gives_its_programs_kv_up_when_drop_ended_is_on(on):
    c = Controller(DroppingCache(), Settings(PolicyConfig(), drop_ended=on),
                   capacity_tokens=1000, clock=Clock())
    first = req("r1", "p", ttl="60s")
    c.on_queued(first, False)
    c.on_release(first, checkpointed=True)   # not the last turn: nothing goes
    assert c.cache.dropped == []
    last = req("r2", "p", last=True)
    c.on_queued(last, False)
    c.on_release(last, checkpointed=True)
    assert c.cache.dropped == (["node-r2"] if on else [])
    assert c.snapshot().ended_dropped_tokens == (7 if on else 0)
    assert Settings().drop_ended  # the default
