import math

import pytest

from sglang_continuum.core import ContinuumPolicy, LockDecision, PolicyConfig, PrefillModel

A, B, C, D = ("t", "a"), ("t", "b"), ("t", "c"), ("t", "d")
NO_PREFILL = PrefillModel(0.0, 0.0, 0.0)


def policy(capacity=1000, **kw):
    kw.setdefault("prefill_profile", NO_PREFILL)
    kw.setdefault("mode", "paper")  # these cases pin the paper's rule; test_core_hold the default
    return ContinuumPolicy(PolicyConfig(**kw), capacity)


def feed_durations(p, key, tool, durations, t=0.0):
    """Run turns of `key` whose tool calls took `durations`; returns the time after."""
    p.on_arrival(key, t)
    p.on_admitted(key, t)
    for d in durations:
        p.on_finish(key, t, 10, tool, False)
        t += d
        p.on_arrival(key, t)
        p.on_admitted(key, t)
    return t


def lock(p, key, now, tokens=10, tool="cd", hint=None):
    decision = p.on_finish(key, now, tokens, tool, False, hint)
    if decision.ttl_s > 0:
        p.set_lock(key, now, decision.ttl_s, tokens, f"h-{key[1]}")
    return decision


def test_cost_model_uses_tool_cdf_by_hand():
    p = policy(cold_start_samples=2, prefill_profile=PrefillModel(1.0, 0.0, 0.0))
    feed_durations(p, A, "cd", [0.1, 0.2, 0.3, 5.0])
    # G = T*eta + reload = 0 + 1: scores .15, .3, .45, -4 -> 0.3
    decision = p.on_finish(B, 100.0, 10, "cd", False)
    assert decision.reason == "cost_model" and decision.ttl_s == pytest.approx(0.3)


def test_cost_model_gain_includes_queue_delay_times_eta():
    p = policy(cold_start_samples=2)
    feed_durations(p, A, "cd", [0.1, 0.2, 0.3, 5.0])
    p.record_queue_delay(40.0)  # T = 40, eta = 1 (no finished program yet)
    assert p.on_finish(B, 100.0, 10, "cd", False).ttl_s == pytest.approx(5.0)
    p.on_finish(C, 100.0, 10, None, True)  # programs of 1 and 3 turns:
    p.on_finish(D, 100.0, 10, None, False)
    p.on_finish(D, 101.0, 10, None, False)
    p.on_finish(D, 102.0, 10, None, True)  # eta = 1.25 / 2.75
    eta = p.snapshot().eta
    assert eta == pytest.approx(1.25 / 2.75)
    # G = 40 * 0.4545 = 18.2: 18.2 - 5 = 13.2 < .75 * 18.2 - .3 = 13.3
    assert p.on_finish(B, 103.0, 10, "cd", False).ttl_s == pytest.approx(0.3)


def test_cold_start_closed_form_with_eta_one():
    p = policy(prefill_profile=PrefillModel(math.e ** 2 - 3.0, 0.0, 0.0))
    p.record_queue_delay(3.0)
    decision = p.on_finish(A, 0.0, 10, "cd", False)
    assert decision.reason == "cold_start"
    assert decision.ttl_s == pytest.approx(2.0)  # ln(T + reload) with Exp(1 s)


def test_cold_start_ends_at_k_samples_then_global_then_own_cdf():
    p = policy(cold_start_samples=3, prefill_profile=PrefillModel(1.0, 0.0, 0.0))
    feed_durations(p, A, "ls", [0.25, 0.25])
    assert p.on_finish(B, 10.0, 10, "cd", False).reason == "cold_start"
    feed_durations(p, A, "ls", [0.25], t=20.0)
    # total = 3 = K: global CDF; "cd" has no samples of its own
    assert p.on_finish(B, 30.0, 10, "cd", False) == LockDecision(0.25, "cost_model")
    feed_durations(p, A, "cd", [0.5, 0.5, 0.5, 0.5], t=40.0)
    # "cd" has 4 > 3 samples, all 0.5: 1 * 1 - 0.5 > 0
    assert p.on_finish(B, 60.0, 10, "cd", False) == LockDecision(0.5, "cost_model")


def test_fixed_and_off_modes_and_last_turn():
    p = policy(mode="fixed", fixed_ttl_s=2.0)
    assert p.on_finish(A, 0.0, 10, None, False) == LockDecision(2.0, "fixed")
    assert p.on_finish(A, 1.0, 10, "cd", True) == LockDecision(0.0, "last_turn")
    assert policy(mode="fixed", fixed_ttl_s=2.0, max_ttl_s=1.0).on_finish(
        A, 0.0, 10, "cd", False) == LockDecision(1.0, "fixed")
    off = policy(mode="off")
    assert off.on_finish(A, 0.0, 10, "cd", False, 30.0) == LockDecision(0.0, "off")


def test_hint_overrides_model_and_is_clamped():
    p = policy(max_ttl_s=60.0)
    assert p.on_finish(A, 0.0, 10, "cd", False, 5.0) == LockDecision(5.0, "hint")
    assert p.on_finish(A, 1.0, 10, "cd", False, 1e6) == LockDecision(60.0, "hint")
    assert p.on_finish(A, 2.0, 10, "cd", False, 0.0) == LockDecision(0.0, "hint")
    with pytest.raises(ValueError, match="ttl_hint_s"):
        p.on_finish(A, 3.0, 10, "cd", False, math.nan)


def test_tool_duration_is_next_arrival_minus_finish():
    p = policy()
    p.on_arrival(A, 0.0)
    p.on_admitted(A, 0.0)
    p.on_finish(A, 1.0, 10, "cd", False)
    p.on_arrival(A, 2.5)
    p.on_arrival(A, 3.0)  # a second concurrent turn records nothing more
    assert p.snapshot().tools == {"cd": (1, 1.5, 1.5)}
    assert p.snapshot().duration_samples == 1


def test_expiry_order_and_consumption():
    p = policy(mode="fixed", max_ttl_s=60.0)
    for key, ttl in [(A, 3.0), (B, 1.0), (C, 2.0)]:
        lock(p, key, 0.0, hint=ttl)
    assert p.expired(0.5) == []
    assert p.expired(2.5) == [(B, "h-b"), (C, "h-c")]
    p.on_arrival(A, 2.6)
    assert p.on_admitted(A, 2.7) == "h-a"
    assert p.on_admitted(A, 2.8) is None
    snap = p.snapshot()
    assert (snap.locks_set, snap.locks_lapsed, snap.locks_consumed) == (3, 2, 1)
    assert snap.active_locks == 0 and snap.locked_tokens == 0


def test_waiting_program_lock_does_not_lapse():
    p = policy(mode="fixed", fixed_ttl_s=1.0)
    lock(p, A, 0.0)
    lock(p, B, 0.0)
    p.on_arrival(A, 0.5)  # inside TTL; not admitted yet (no memory)
    assert p.expired(30.0) == [(B, "h-b")]
    assert p.snapshot().active_locks == 1
    assert p.on_admitted(A, 31.0) == "h-a"


def test_dropped_waiting_turn_lets_nothing_linger():
    p = policy(mode="fixed", fixed_ttl_s=1.0)
    lock(p, A, 0.0)
    p.on_arrival(A, 0.5)
    assert p.drop(A) == "h-a"
    assert p.drop(A) is None
    assert p.snapshot().locks_dropped == 1


def test_pressure_releases_youngest_program_first_waiting_last():
    p = policy(mode="fixed", fixed_ttl_s=10.0)
    for key, first in [(A, 0.0), (B, 1.0), (C, 2.0)]:
        p.on_arrival(key, first)
        p.on_admitted(key, first)
    for key in (A, B, C):
        lock(p, key, 3.0)
    p.on_arrival(C, 3.5)  # youngest, but its next turn waits for this very KV
    assert p.release_for_pressure() == (B, "h-b")
    assert p.release_for_pressure() == (A, "h-a")
    assert p.release_for_pressure() == (C, "h-c")
    assert p.release_for_pressure() is None
    assert p.snapshot().locks_released_pressure == 3


def test_bounds_refuse_with_reason():
    p = policy(capacity=1000, mode="fixed", lock_budget_fraction=0.5,
               per_program_max_fraction=0.25, per_tenant_fraction=0.3)
    t1a, t1b, t2, t3 = ("t1", "a"), ("t1", "b"), ("t2", "c"), ("t3", "d")
    assert lock(p, t1a, 0.0, tokens=251).reason == "per_program_cap"
    assert lock(p, t1a, 0.0, tokens=200).ttl_s == 2.0
    assert lock(p, t1b, 0.0, tokens=101) == LockDecision(0.0, "tenant_share")
    assert lock(p, t1b, 0.0, tokens=100).ttl_s == 2.0  # tenant exactly at 300
    assert lock(p, t2, 0.0, tokens=200).ttl_s == 2.0  # total 500 = budget
    assert lock(p, t3, 0.0, tokens=1) == LockDecision(0.0, "lock_budget")
    # A program's own lock counts as replaced: tenant 300 - 200 + 250 > 300; 300 fits
    assert p.on_finish(t1a, 1.0, 250, "cd", False) == LockDecision(0.0, "tenant_share")
    assert p.on_finish(t1a, 1.0, 200, "cd", False).ttl_s == 2.0
    snap = p.snapshot()
    assert snap.locks_refused == 4
    assert dict(snap.refused_by_reason) == {
        "per_program_cap": 1, "tenant_share": 2, "lock_budget": 1}
    assert snap.locked_tokens == 500


def test_set_lock_returns_replaced_handle_and_validates():
    p = policy(mode="fixed")
    assert p.set_lock(A, 0.0, 2.0, 10, "old") is None
    assert p.set_lock(A, 1.0, 2.0, 10, "new") == "old"
    assert p.snapshot().active_locks == 1
    with pytest.raises(ValueError, match="set_lock"):
        p.set_lock(A, 1.0, 0.0, 10, "x")


def test_finished_programs_are_forgotten_once_unlocked():
    p = policy(mode="fixed")
    p.on_arrival(A, 0.0)
    p.on_admitted(A, 0.0)
    p.on_finish(A, 1.0, 10, "cd", True)
    assert p.snapshot().programs == 0
    lock(p, B, 0.0)  # B never came back to consume its lock...
    p.on_finish(B, 1.0, 10, "cd", True)  # ...and then ended
    assert p.snapshot().programs == 1
    assert p.expired(5.0) == [(B, "h-b")]
    assert p.snapshot().programs == 0


def test_program_table_is_bounded_and_spares_locked_programs():
    p = policy(mode="fixed", max_programs=3)
    lock(p, A, 0.0)
    for i, key in enumerate([B, C, D]):
        p.on_arrival(key, 1.0 + i)
        p.on_admitted(key, 1.0 + i)
    assert p.snapshot().programs == 3
    # B (oldest unlocked, not waiting) was evicted; A kept its first arrival
    assert p.queue_key(B, 9.0, False)[-2:] == (9.0, 9.0)
    assert p.queue_key(A, 9.0, False)[-2:] == (0.0, 9.0)


def test_many_programs_stay_bounded():
    p = policy(max_programs=50)
    for i in range(5_000):
        key = ("t", str(i))
        p.on_arrival(key, float(i))
        p.on_admitted(key, float(i))
        p.on_finish(key, float(i), 10, "cd", False)
    assert p.snapshot().programs == 50


def test_snapshot_histogram_and_dict():
    p = policy(mode="fixed", fixed_ttl_s=2.0)
    p.on_finish(A, 0.0, 10, "cd", False)
    p.on_finish(A, 0.0, 10, "cd", False, 0.3)
    p.on_finish(A, 0.0, 10, "cd", False, 0.0)
    p.on_finish(A, 0.0, 10, "cd", True)  # last turns are not counted
    snap = p.snapshot()
    counts = dict(zip(snap.tau_buckets, snap.tau_counts))
    assert counts[0.0] == 1 and counts[0.5] == 1 and counts[2.0] == 1
    assert sum(snap.tau_counts) == 3
    d = snap.to_dict()
    assert d["tau_buckets"][-1] == "inf" and d["mode"] == "fixed"
    with pytest.raises(AttributeError):
        snap.locks_set = 3


def test_capacity_validated():
    with pytest.raises(ValueError, match="capacity_tokens"):
        ContinuumPolicy(PolicyConfig(), 0)


def test_programs_ended_counts_last_turns_once_each():
    p = policy(mode="fixed", fixed_ttl_s=1.0)
    lock(p, A, 0.0)
    assert p.snapshot().programs_ended == 0
    p.on_finish(A, 2.0, context_tokens=10, tool=None, last_turn=True)
    p.on_finish(A, 2.5, context_tokens=10, tool=None, last_turn=True)  # a stale duplicate
    snap = p.snapshot()
    assert snap.programs_ended == 1 and snap.programs == 1  # A still holds its lock
    p.drop(A)
