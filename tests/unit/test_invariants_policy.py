"""Policy core invariants: client hints cannot exceed the server's bounds, and a program
whose last turn finished cannot be locked again by a turn that arrived before its end."""

from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st

from sglang_continuum.core import ContinuumPolicy, PolicyConfig, PrefillModel

CAPACITY = 10_000


def _policy(**kw) -> ContinuumPolicy:
    kw.setdefault("prefill_profile", PrefillModel(0.0, 0.0, 0.0))
    return ContinuumPolicy(PolicyConfig(**kw), CAPACITY)


finite_hints = st.one_of(st.none(), st.floats(0, 1e12, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(mode=st.sampled_from(["paper", "fixed"]), max_ttl=st.floats(0.5, 120),
       budget=st.floats(0.05, 1.0), per_program=st.floats(0.01, 1.0),
       tenant_share=st.floats(0.01, 1.0),
       turns=st.lists(st.tuples(st.sampled_from(["t1", "t2", "t3"]), st.integers(0, 20),
                                st.integers(0, 6000), finite_hints, st.floats(0, 30)),
                      max_size=60))
def test_hinted_locks_never_exceed_the_servers_bounds(mode, max_ttl, budget, per_program,
                                                      tenant_share, turns):
    p = _policy(mode=mode, max_ttl_s=max_ttl, fixed_ttl_s=max_ttl * 2,
                lock_budget_fraction=budget, per_program_max_fraction=per_program,
                per_tenant_fraction=tenant_share)
    now = 0.0
    for tenant, pid, tokens, hint, dt in turns:
        now += dt
        key = (tenant, f"p{pid}")
        p.on_arrival(key, now)
        handle = p.on_admitted(key, now)
        decision = p.on_finish(key, now, tokens, "bash", False, hint)
        assert 0 <= decision.ttl_s <= max_ttl
        if decision.ttl_s > 0:
            assert tokens <= per_program * CAPACITY
            p.set_lock(key, now, decision.ttl_s, tokens, object())
        p.expired(now)
        locks = p._locks._locks.values()
        assert p.snapshot().locked_tokens <= budget * CAPACITY
        for t in ("t1", "t2", "t3"):
            assert p._locks.tenant_tokens(t) <= tenant_share * CAPACITY
        assert all(lock.expires_at - lock.set_at <= max_ttl + 1e-9 * (1 + now) for lock in locks)
        del handle
    p.expired(now + max_ttl + 1)
    assert p.snapshot().locked_tokens == 0


def test_non_finite_or_negative_hints_are_refused_by_the_core():
    p = _policy()
    for bad in (math.nan, math.inf, -1.0):
        try:
            p.on_finish(("", "a"), 0.0, 10, None, False, bad)
        except ValueError as e:
            assert "ttl_hint_s" in str(e)
        else:
            raise AssertionError(f"hint {bad!r} accepted")


def test_an_absurd_hint_is_clamped_to_max_ttl():
    p = _policy(max_ttl_s=60.0)
    decision = p.on_finish(("", "a"), 0.0, 10, None, False, 1e300)
    assert decision.ttl_s == 60.0 and decision.reason == "hint"


def test_turn_finishing_after_the_last_turn_does_not_lock():
    p = _policy(mode="fixed", fixed_ttl_s=5.0)
    key = ("", "a")
    p.on_arrival(key, 0.0)
    p.on_admitted(key, 0.0)
    p.on_arrival(key, 0.1)  # a duplicate, still running when the last turn ends
    p.on_admitted(key, 0.1)
    assert p.on_finish(key, 1.0, 100, None, True).reason == "last_turn"
    straggler = p.on_finish(key, 2.0, 100, None, False)
    assert straggler.ttl_s == 0 and straggler.reason == "last_turn"
    assert p.snapshot().programs == 0
    # A turn arriving after the end starts the key afresh (ids may be reused).
    p.on_arrival(key, 3.0)
    p.on_admitted(key, 3.0)
    assert p.on_finish(key, 4.0, 100, None, False).ttl_s == 5.0


def test_the_ended_set_is_bounded_by_max_programs():
    p = _policy(max_programs=8)
    for i in range(100):
        p.on_finish(("", f"p{i}"), float(i), 10, None, True)
    assert len(p._ended) == 8
