"""The admission gate (a comparison mode) in a server, driven through the Controller and
the admission hook (fake cache, fake requests and PrefillAdder): new programs' first
turns are passed over while the resident programs' KV would not fit, continuing turns
and plain requests never are, none overtakes an older held program, and a program
stops counting once it ends, is aborted or has been idle for max_ttl_s."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from sglang_continuum.adapter import hooks
from sglang_continuum.adapter.controller import Controller
from sglang_continuum.adapter.settings import Settings
from sglang_continuum.core import PolicyConfig
from sglang_continuum.core.admission_gate import gate_limit
from tests.unit.test_controller import Clock, FakeCache, req

CAPACITY = 1000


class HostCache(FakeCache):
    def host_capacity_tokens(self):  # the tiers hold 4,000 tokens together
        return 4000


def make(gate="device", cache=None, **cfg):
    clock = Clock()
    ctl = Controller(cache or FakeCache(), Settings(PolicyConfig(**{"max_ttl_s": 60.0, **cfg}),
                                           admission_gate=gate),
                     capacity_tokens=CAPACITY, clock=clock)
    return ctl, clock


def turn(rid, program=None, n_in=100, max_new=10, last=False):
    r = req(rid, program, n_in=n_in, last=last)
    r.output_ids = []
    r.sampling_params.max_new_tokens = max_new
    return r


def admit_pass(ctl, queue, busy=False):
    """One admission pass over `queue` (as the scheduler's loop): what it admitted;
    `busy`: a batch is running."""
    from sglang.srt.managers.schedule_policy import AddReqResult

    running = SimpleNamespace(is_empty=lambda: False) if busy else None
    adder = SimpleNamespace(tree_cache=SimpleNamespace(continuum=ctl), can_run_list=[],
                            running_batch=running)

    def original(self, r, *a, **k):
        self.can_run_list.append(r)
        return AddReqResult.CONTINUE

    for r in queue:
        assert hooks.around_add_one_req(original, adder, r, False, None) \
            is AddReqResult.CONTINUE
    return [r.rid for r in adder.can_run_list]


def finish(ctl, r, n_out=10):
    r.output_ids = [2] * n_out
    ctl.on_release(r, checkpointed=True)


def b_beside_a(ctl):
    """A (900 tokens) is admitted; then what one pass admits of B's first turn (500)."""
    a1 = turn("a1", "A", n_in=900)
    ctl.on_queued(a1, False)
    admit_pass(ctl, [a1])
    b1 = turn("b1", "B", n_in=500)
    ctl.on_queued(b1, False)
    return admit_pass(ctl, [b1])


def test_a_new_program_waits_while_the_resident_ones_would_not_fit():
    ctl, clock = make()
    a1 = turn("a1", "A", n_in=600)
    ctl.on_queued(a1, False)
    assert admit_pass(ctl, [a1]) == ["a1"]           # nothing resident: admitted
    finish(ctl, a1)                                   # A holds 610 tokens, in its tool
    b1, c1 = turn("b1", "B", n_in=500), turn("c1", "C", n_in=100)
    plain = turn("plain", None, n_in=900)
    for r in (b1, c1, plain):
        ctl.on_queued(r, False)
    clock.t += 1
    a2 = turn("a2", "A", n_in=620)
    ctl.on_queued(a2, False)
    # B does not fit beside A; C would, but does not overtake B; A and plain go
    assert admit_pass(ctl, [b1, c1, a2, plain]) == ["a2", "plain"]
    assert ctl.snapshot().gate_held == 2 and ctl.snapshot().gate_held_total == 2
    finish(ctl, a2)
    a3 = turn("a3", "A", n_in=640, last=True)
    ctl.on_queued(a3, False)
    assert admit_pass(ctl, [b1, c1, a3]) == ["a3"]
    finish(ctl, a3)                                   # A ended: nothing resident
    assert ctl.snapshot().gate_resident_tokens == 0
    assert admit_pass(ctl, [b1, c1]) == ["b1", "c1"]  # B, then C beside it (520 + 110)
    assert ctl.snapshot().gate_held == 0


def test_an_aborted_or_idle_program_stops_counting():
    ctl, clock = make()
    a1 = turn("a1", "A", n_in=900)
    ctl.on_queued(a1, False)
    admit_pass(ctl, [a1])
    finish(ctl, a1)
    b1 = turn("b1", "B", n_in=500)
    ctl.on_queued(b1, False)
    assert admit_pass(ctl, [b1]) == []
    clock.t += 60.5                                   # A idle past max_ttl_s
    assert admit_pass(ctl, [b1]) == ["b1"]
    c1 = turn("c1", "C", n_in=600)
    ctl.on_queued(c1, False)
    assert admit_pass(ctl, [c1]) == []                # B resident (510)
    ctl.on_aborted(b1)
    assert admit_pass(ctl, [c1]) == ["c1"]


def test_a_later_turn_of_a_program_idle_past_max_ttl_is_not_held():
    ctl, clock = make()
    a1, b1 = turn("a1", "A", n_in=600), turn("b1", "B", n_in=300)
    for r in (a1, b1):
        ctl.on_queued(r, False)
    assert admit_pass(ctl, [a1, b1]) == ["a1", "b1"]
    finish(ctl, a1)
    finish(ctl, b1)
    clock.t += 61.0                                   # A's tool ran past max_ttl_s
    b2 = turn("b2", "B", n_in=320)
    ctl.on_queued(b2, False)
    assert admit_pass(ctl, [b2]) == ["b2"]            # B resident again; A expired
    a2 = turn("a2", "A", n_in=900)                    # would not fit beside B: a new
    ctl.on_queued(a2, False)                          # program's turn would wait
    assert admit_pass(ctl, [a2]) == ["a2"]
    c1 = turn("c1", "C", n_in=900)
    c1.is_retracted = True                            # preempted: never held
    ctl.on_queued(c1, True)
    assert admit_pass(ctl, [c1]) == ["c1"]


@pytest.mark.parametrize("gate, held", [("off", False), ("tiers", False), ("device", True),
                                        ("auto", False), ("thrash", False)])
def test_off_and_the_tiers_limit(gate, held):
    ctl, _ = make(gate, HostCache())
    assert b_beside_a(ctl) == ([] if held else ["b1"])


def test_auto_without_a_host_tier_admits_up_to_twice_the_device_pool():
    """Resident programs spend part of their time in tool calls: "auto" lets their KV
    pass the device pool up to twice its size, then holds the next new program."""
    ctl, _ = make("auto")
    admitted = []
    for i, n_in in enumerate((900, 500, 300)):       # 910, then 1,420, then 1,730 tokens
        r = turn(f"p{i}", f"P{i}", n_in=n_in)
        ctl.on_queued(r, False)
        admitted += admit_pass(ctl, [r])
    assert admitted == ["p0", "p1", "p2"]
    r = turn("p3", "P3", n_in=300)                  # 1,730 + 310 > 2,000: held
    ctl.on_queued(r, False)
    assert admit_pass(ctl, [r]) == []


def test_thrash_holds_at_the_device_pool_only_while_the_pool_thrashes():
    """"thrash" is "auto" until the contention gauge (the share of recent resumptions
    that met memory pressure) passes THRASH_LEVEL; then, without a host tier, the device
    pool is the limit. The controller passes the policy's gauge."""
    from sglang_continuum.core.admission_gate import THRASH_LEVEL

    held = []
    for level in (0.0, THRASH_LEVEL + 0.1):
        ctl, _ = make("thrash")
        ctl.policy._contention._level = level        # as if locks had given way
        a1 = turn("a1", "A", n_in=900)
        ctl.on_queued(a1, False)
        admit_pass(ctl, [a1])
        b1 = turn("b1", "B", n_in=500)                # 910 + 500: past the device pool
        ctl.on_queued(b1, False)
        held.append(admit_pass(ctl, [b1]) == [])
    assert held == [False, True]
    # with a host tier it stays "auto" however hot the pool
    assert gate_limit("thrash", 1000, 4000.0, contention=1.0) == 4000
    assert gate_limit("thrash", 1000, None, contention=1.0) == 1000
    assert gate_limit("thrash", 1000, None, contention=THRASH_LEVEL) == 2000


def test_park_holds_the_youngest_residents_turns_only_while_the_pool_thrashes():
    """"park" is "thrash" for new programs; while the pool thrashes (no host tier), a
    resident program's later turn also waits while the programs that started before it
    would not fit the device pool beside it. The oldest never waits; once it ends the
    younger one goes; a preempted turn is never held."""
    from sglang_continuum.core.admission_gate import THRASH_LEVEL

    parked = []
    for level in (0.0, THRASH_LEVEL + 0.1):
        ctl, clock = make("park")
        ctl.policy._contention._level = level        # as if locks had given way
        a1, b1 = turn("a1", "A", n_in=600), turn("b1", "B", n_in=300)
        for r in (a1, b1):
            ctl.on_queued(r, False)
        assert admit_pass(ctl, [a1, b1]) == ["a1", "b1"]   # 610 + 310 fit
        finish(ctl, a1)
        finish(ctl, b1)
        clock.t += 1
        b2, a2 = turn("b2", "B", n_in=500), turn("a2", "A", n_in=700)
        for r in (b2, a2):
            ctl.on_queued(r, False)
        # A (started first) goes; B's turn (510) beside A's 610 passes the pool
        admitted = admit_pass(ctl, [b2, a2])
        parked.append(admitted == ["a2"])
        if level:
            assert ctl.snapshot().gate_held == 1
            finish(ctl, a2)
            a3 = turn("a3", "A", n_in=720, last=True)
            ctl.on_queued(a3, False)
            assert admit_pass(ctl, [b2, a3]) == ["a3"]
            finish(ctl, a3)                              # A ended: B is the oldest
            assert admit_pass(ctl, [b2]) == ["b2"]
            finish(ctl, b2)
            b3 = turn("b3", "B", n_in=900)
            c1 = turn("c1", "C", n_in=600)
            for r in (c1, b3):
                ctl.on_queued(r, False)
            assert admit_pass(ctl, [c1, b3]) == ["b3"]      # C (610) would not fit
            b3.is_retracted = True
            assert admit_pass(ctl, [b3]) == ["b3"]
    assert parked == [False, True]


def test_the_tiers_limit_reads_the_host_capacity():
    from sglang_continuum.adapter.gate import gate_for

    assert gate_for("off", 1000, 5000.0, 60.0) is None
    assert gate_for("device", 1000, 5000.0, 60.0).gate.limit_tokens == 1000
    assert gate_for("tiers", 1000, 5000.0, 60.0).gate.limit_tokens == 5000
    assert gate_for("tiers", 1000, None, 60.0).gate.limit_tokens == 1000
    # auto: the larger of twice the device pool and both tiers
    assert gate_for("auto", 1000, None, 60.0).gate.limit_tokens == 2000
    assert gate_for("auto", 1000, 1500.0, 60.0).gate.limit_tokens == 2000
    assert gate_for("auto", 1000, 5000.0, 60.0).gate.limit_tokens == 5000
    assert gate_for("auto", 1000, math.inf, 60.0).gate.admits(10**12, 3, 10**6)
    with pytest.raises(ValueError, match="'sometimes'.*device, tiers, auto, thrash"):
        gate_limit("sometimes", 1000, None)


def test_an_unknown_gate_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="admission_gate.*off, device, tiers, auto, thrash, park"):
        Settings(admission_gate="on")
    assert Settings.from_mapping({"admission_gate": "tiers"}).admission_gate == "tiers"


def test_residents_count_each_program_once_and_expire_in_order():
    from sglang_continuum.core.admission_gate import Residents

    r = Residents(idle_s=10.0)
    r.update("a", 100, 0.0)
    r.update("b", 50, 5.0)
    r.update("a", 120, 6.0)          # a's latest context replaces its first
    assert (len(r), r.total) == (2, 170)
    r.expire(15.5)                   # b idle 10.5 s; a 9.5 s
    assert ("b" in r, "a" in r, r.total) == (False, True, 120)
    r.drop("a")
    r.drop("a")                      # twice: no effect
    assert (len(r), r.total) == (0, 0)
    with pytest.raises(ValueError, match="idle_s"):
        Residents(0)


def test_residents_know_who_started_first_and_the_gate_parks_the_youngest():
    from sglang_continuum.core.admission_gate import AdmissionGate, Residents, park_limit

    r = Residents(idle_s=10.0)
    r.update("a", 100, 0.0)
    r.update("b", 50, 1.0)
    r.update("c", 70, 2.0)
    r.update("a", 300, 3.0)          # a's later turn: still the first to have started
    assert r.older("a") == (0, 0) and r.older("b") == (300, 1) and r.older("c") == (350, 2)
    r.drop("b")
    assert r.older("c") == (300, 1) and r.older("zz") == (370, 2)
    gate = AdmissionGate(1000, park_tokens=400)
    assert gate.keeps(0, 0, 5000)    # the oldest always goes
    assert gate.keeps(300, 1, 100) and not gate.keeps(300, 1, 101)
    assert AdmissionGate(1000).keeps(10**9, 9, 10**9)
    assert park_limit("park", 1000, None, contention=0.5) == 1000
    assert math.isinf(park_limit("park", 1000, None, contention=0.1))
    assert math.isinf(park_limit("park", 1000, 4000.0, contention=1.0))  # host tier
    assert math.isinf(park_limit("thrash", 1000, None, contention=1.0))


@pytest.mark.parametrize("cache, gated", [(None, True), (HostCache(), False)])
def test_the_default_gate_is_the_device_gate_without_a_host_tier_and_none_with_one(
        cache, gated):
    from sglang_continuum.adapter.gate import gate_for

    assert Settings().admission_gate == "device-only"
    ctl, _ = make("device-only", cache)
    assert (ctl.gate is not None) is gated
    if gated:
        assert ctl.gate.gate.limit_tokens == CAPACITY
    assert b_beside_a(ctl) == ([] if gated else ["b1"])
    assert gate_for("device-only", 1000, 5000.0, 60.0) is None
    assert gate_for("device-only", 1000, math.inf, 60.0) is None
    assert gate_for("device-only", 1000, None, 60.0).gate.limit_tokens == 1000


def learn_tools(ctl, n, seconds):
    """`n` tool calls of `seconds` each, through the policy core (other programs)."""
    for i in range(n):
        key = ("", f"tool-{i}")
        ctl.policy.on_arrival(key, 0.0)
        ctl.policy.on_finish(key, 0.0, 10, "bash", last_turn=False)
        ctl.policy.on_arrival(key, seconds)
        ctl.policy.drop(key)


def test_a_program_paused_past_the_learned_horizon_stops_holding_new_ones_back():
    """A client that never marks its last turn: its program, paused, counts as resident
    for max_ttl_s until cold_start_samples tool calls have returned, then for their
    p99 (not for max_ttl_s), once the engine has nothing to run (a busy engine keeps
    counting it: a tool that outran the horizon must not let a new program in while
    others run); a running turn counts until it ends."""
    ctl, clock = make("device-only", cold_start_samples=20)
    assert ctl.policy.paused_horizon_s() == 60.0      # nothing learned: max_ttl_s
    learn_tools(ctl, 20, 2.0)
    horizon = ctl.policy.paused_horizon_s()
    assert horizon == pytest.approx(2.0)
    a1 = turn("a1", "A", n_in=600)
    ctl.on_queued(a1, False)
    assert admit_pass(ctl, [a1]) == ["a1"]
    finish(ctl, a1)                                   # A paused: 610 tokens, no last turn
    b1 = turn("b1", "B", n_in=500)
    ctl.on_queued(b1, False)
    clock.t += horizon - 0.05
    assert admit_pass(ctl, [b1]) == []                # A within the horizon: B waits
    clock.t += 0.1
    assert admit_pass(ctl, [b1], busy=True) == []     # past it, but the engine is busy
    assert admit_pass(ctl, [b1]) == ["b1"]            # idle: A left the table
    assert "A" not in [k[1] for k in ctl.gate.residents._programs]
    clock.t += 3 * horizon                            # B's turn still runs: resident
    c1 = turn("c1", "C", n_in=600)
    ctl.on_queued(c1, False)
    assert admit_pass(ctl, [c1]) == []
    a2 = turn("a2", "A", n_in=620)                    # A's tool returns: its turn is
    ctl.on_queued(a2, False)                          # not held, A joins again
    assert admit_pass(ctl, [a2]) == ["a2"]
    assert ctl.gate.residents.total == 510 + 630


def test_residents_paused_leave_after_paused_s_running_after_idle_s():
    from sglang_continuum.core.admission_gate import Residents

    r = Residents(idle_s=100.0)
    r.update("run", 10, 0.0, running=True)
    r.update("p1", 20, 1.0, running=False)
    r.update("p2", 40, 3.0, running=False)
    assert r.next_expiry(5.0) == 6.0
    r.expire(6.5, paused_s=5.0)                       # p1 paused 5.5 s
    assert ("run" in r, "p1" in r, "p2" in r) == (True, False, True)
    assert r.next_expiry(5.0) == 8.0
    r.expire(99.0, paused_s=5.0)
    assert (len(r), r.total) == (1, 10)               # the running turn stays
    assert math.isinf(r.next_expiry(5.0))
    r.expire(100.5)                                   # idle past idle_s: gone
    assert len(r) == 0
    r.update("a", 1, 0.0)
    r.update("b", 2, 1.0, running=False)
    r.update("c", 4, 2.0)
    r.update("a", 8, 3.0, running=False)
    assert r.older_all() == {k: r.older(k) for k in ("a", "b", "c")} == \
        {"a": (0, 0), "b": (8, 1), "c": (10, 2)}


def test_a_turn_waiting_in_the_queue_is_not_a_pause():
    """From a turn's end to its next turn's arrival a program is paused (its tool
    runs); once that turn is queued the program is not paused, however long it waits:
    under contention the wait can outlast the learned horizon many times over."""
    ctl, clock = make("device-only", cold_start_samples=20)
    learn_tools(ctl, 20, 2.0)
    horizon = ctl.policy.paused_horizon_s()
    a1 = turn("a1", "A", n_in=600)
    ctl.on_queued(a1, False)
    admit_pass(ctl, [a1])
    finish(ctl, a1)
    clock.t += 0.5
    a2 = turn("a2", "A", n_in=620)
    ctl.on_queued(a2, False)                          # A's tool returned: A waits
    b1 = turn("b1", "B", n_in=500)
    ctl.on_queued(b1, False)
    clock.t += 5 * horizon
    assert admit_pass(ctl, [b1]) == []                # A still resident
    assert "A" in [k[1] for k in ctl.gate.residents._programs]


def test_residents_resume_a_paused_program_only():
    from sglang_continuum.core.admission_gate import Residents

    r = Residents(idle_s=100.0)
    r.update("p", 20, 1.0, running=False)
    r.resume("p", 2.0)
    r.resume("unknown", 2.0)                          # not resident: no effect
    assert (len(r), r.total) == (1, 20)
    r.expire(50.0, paused_s=5.0)
    assert "p" in r                                   # resumed: not paused
