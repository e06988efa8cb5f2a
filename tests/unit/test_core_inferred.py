"""core/inference.py InferredPrograms: what a finished turn of an inferred program may lock."""

from __future__ import annotations

import pytest

from sglang_continuum.core import InferredPrograms, PolicyConfig


def test_a_tool_call_locks_and_a_later_answer_ends_the_program():
    p = InferredPrograms()
    assert p.finished("a", proven=False, tool="bash") == (True, False)
    assert p.finished("a", proven=True, tool="grep") == (True, False)
    assert p.finished("a", proven=True, tool=None) == (False, True)
    assert len(p) == 0  # ended: forgotten


def test_without_tool_calls_only_a_continued_program_locks():
    p = InferredPrograms()
    assert p.finished("b", proven=False, tool=None) == (False, False)  # plain or first turn
    assert p.finished("b", proven=True, tool=None) == (True, False)  # continued: an agent
    assert len(p) == 0


def test_tool_callers_are_bounded_least_recent_first():
    p = InferredPrograms(max_programs=2)
    for key in ("x", "y", "z"):
        p.finished(key, proven=False, tool="bash")
    assert len(p) == 2
    # "x" was dropped: its answer is no longer known to follow tool calls.
    assert p.finished("x", proven=True, tool=None) == (True, False)
    assert p.finished("z", proven=True, tool=None) == (False, True)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_bad_size_names_the_field(bad):
    with pytest.raises(ValueError, match="max_programs"):
        InferredPrograms(bad)


def test_open_ended_programs_leave_the_prior_sooner():
    from sglang_continuum.core import ContinuumPolicy, PrefillModel

    # A 5 s rebuild: worth a lock under either rule.
    # Memory priced (uncontended: price 1), as the rule was before 2026-12-03.
    p = ContinuumPolicy(PolicyConfig(prefill_profile=PrefillModel(5.0, 0.0, 0.0),
                                     contention_saturation=0.05), capacity_tokens=100_000)
    assert (PolicyConfig().cold_start_samples, PolicyConfig().open_cold_start_samples) \
        == (100, 20)
    t = 0.0
    for _ in range(30):  # 30 durations of 0.1 s: still cold for K = 100, warm for 20
        p.on_arrival("k", t)
        t += 0.5
        p.on_finish("k", t, 1000, None, False)
        t += 0.1
    p.on_arrival("k", t)
    explicit = p.on_finish("k", t + 0.5, 1000, None, False)
    assert explicit.reason == "cold_start" and explicit.ttl_s > 1.0  # Exp(1 s) prior
    p.on_arrival("k", t + 0.6)
    inferred = p.on_finish("k", t + 1.0, 1000, None, False, open_ended=True)
    assert inferred.reason == "hold" and 0 < inferred.ttl_s <= 0.1 + 1e-9


def test_first_turns_learn_the_continued_share_under_a_uniform_prior():
    from sglang_continuum.core import FirstTurns

    f = FirstTurns(window=4)
    assert f.share == 0.5 and f.p_continue == 0.5  # no evidence: as likely as not
    f.finished("a", now=0.0)
    f.finished("b", now=1.0)
    f.continued("a")
    assert f.share == 2 / 3 and f.p_continue == 2 / 3
    f.continued("zzz")  # not pending (a proven program's later turn): no outcome
    assert f.share == 2 / 3 and len(f) == 1
    f.expire(now=5.0, horizon_s=5.0)  # "b" finished at 1.0: not yet past the horizon
    assert len(f) == 1
    f.expire(now=6.5, horizon_s=5.0)
    assert len(f) == 0 and f.share == 2 / 4 and f.p_continue == 0.5
    f.continued("b")  # too late: already counted as plain
    assert f.share == 2 / 4
    for i in range(4):  # the window keeps the last 4 outcomes
        f.finished(i, now=10.0)
        f.continued(i)
    assert f.share == 5 / 6


def test_plain_traffic_alone_drives_the_lock_probability_to_zero():
    from sglang_continuum.core import FirstTurns

    f = FirstTurns()
    f.finished("p1", now=0.0)
    f.expire(now=10.0, horizon_s=5.0)
    assert f.share == 1 / 3 and f.p_continue == 0.0  # below one half: no lock
    for i in range(20):
        f.finished(i, now=20.0)
    f.expire(now=30.0, horizon_s=5.0)
    assert f.share == 1 / 23 and f.p_continue == 0.0


def test_first_turns_pending_is_bounded_oldest_counted_plain():
    from sglang_continuum.core import FirstTurns

    f = FirstTurns(window=8, max_pending=2)
    for key in ("x", "y", "z"):
        f.finished(key, now=0.0)
    assert len(f) == 2
    f.continued("x")  # dropped when "z" came: counted uncontinued, no longer pending
    f.continued("y")
    assert f.share == 2 / 4


@pytest.mark.parametrize("field,bad", [("window", 0), ("max_pending", -1), ("window", 2.5),
                                       ("min_share", 1.5), ("min_share", True)])
def test_first_turns_bad_size_names_the_field(field, bad):
    from sglang_continuum.core import FirstTurns

    with pytest.raises(ValueError, match=field):
        FirstTurns(**{field: bad})


def test_a_turn_that_will_not_be_continued_locks_nothing():
    from sglang_continuum.core import ContinuumPolicy

    policy = ContinuumPolicy(PolicyConfig(), capacity_tokens=10_000)
    assert policy.on_finish(("", "~r1"), 0.0, 500, None, False, open_ended=True,
                            p_continue=0.0) == (0.0, "unproven")
    decision = policy.on_finish(("", "~r2"), 0.0, 500, None, False, open_ended=True,
                                p_continue=0.5)
    assert decision.ttl_s > 0


def _locked_old_and_young(young_at: float):
    """A default policy but for a 180 s age cap, with programs "old" (began at 0 s) and
    "young" locked."""
    from sglang_continuum.core import ContinuumPolicy

    policy = ContinuumPolicy(PolicyConfig(queue_age_cap_s=180.0), capacity_tokens=10_000)
    for key, arrival in ((("", "old"), 0.0), (("", "young"), young_at)):
        policy.on_arrival(key, arrival)
        policy.on_admitted(key, arrival)
        policy.set_lock(key, arrival + 1, 30.0, 100, key[1])
    return policy


def test_the_learned_share_moves_the_pressure_bound_of_requests_without_ids():
    policy = _locked_old_and_young(young_at=50.0)
    # share 0: a request without an id at 70 s ranks at 10 s: the young lock gives way.
    assert policy.release_for_pressure(None, 70.0, engine_idle=False)[1] == "young"
    policy.set_lock(("", "young"), 60.0, 30.0, 100, "young")
    policy.set_first_turn_share(0.9)  # ranks at 64 s: older than no lock here
    assert policy.release_for_pressure(None, 70.0, engine_idle=False) is None
    with pytest.raises(ValueError, match="share"):
        policy.set_first_turn_share(1.5)


def test_below_one_half_a_request_without_an_id_keeps_a_scaled_head_start_under_pressure():
    policy = _locked_old_and_young(young_at=150.0)
    policy.set_first_turn_share(0.4)  # mostly plain: ranks 108 s early, at 92 s
    assert policy.queue_key(None, 200.0, False)[-2] == pytest.approx(92.0)
    assert policy.release_for_pressure(None, 200.0, engine_idle=False)[1] == "young"
    assert policy.release_for_pressure(None, 200.0, engine_idle=False) is None
    policy.set_lock(("", "young"), 160.0, 30.0, 100, "young")
    policy.set_first_turn_share(0.6)  # mostly agents' first turns: a new program's
    assert policy.queue_key(None, 200.0, False)[-2] == pytest.approx(128.0)  # queue: 72 s
    # Under pressure it takes only locks of programs that began after it arrived.
    assert policy.release_for_pressure(None, 200.0, engine_idle=False) is None
    assert policy.release_for_pressure(None, 140.0, engine_idle=False)[1] == "young"


def test_one_tenants_plain_traffic_does_not_stop_another_tenants_first_turn_locks():
    """Tenant B floods plain single-turn requests (never continued); tenant A's agents'
    first turns are continued. A's first turns still lock: each tenant learns its own
    share, the shared one is only its prior."""
    from sglang_continuum.core import FirstTurns

    ft = FirstTurns()
    for i in range(8):  # A: agents, their first turns continued
        ft.finished(("a", f"~a{i}"), 0.0)
        ft.continued(("a", f"~a{i}"))
    for i in range(200):  # B: plain traffic, never continued
        ft.finished(("b", f"~b{i}"), 1.0)
    ft.expire(100.0, horizon_s=10.0)
    assert ft.p_continue_for("a") >= 0.5
    assert ft.p_continue_for("b") == 0.0


def test_one_tenants_agents_do_not_make_another_tenants_plain_traffic_lock():
    from sglang_continuum.core import FirstTurns

    ft = FirstTurns()
    for i in range(200):  # A: agents
        ft.finished(("a", f"~a{i}"), 0.0)
        ft.continued(("a", f"~a{i}"))
    for i in range(8):  # B: a little plain traffic of its own
        ft.finished(("b", f"~b{i}"), 1.0)
    ft.expire(100.0, horizon_s=10.0)
    assert ft.p_continue_for("a") >= 0.5
    assert ft.p_continue_for("b") == 0.0


def test_first_turn_tenants_are_bounded():
    from sglang_continuum.core import FirstTurns

    ft = FirstTurns(max_tenants=4)
    for i in range(100):
        ft.finished((f"t{i}", "~x"), 0.0)
        ft.continued((f"t{i}", "~x"))
    assert ft.tenants() <= 4
