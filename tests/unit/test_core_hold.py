"""The default TTL rule (mode "hold": until the tool returns, priced by contention when
contention_saturation > 0), by hand."""

import math

import numpy as np
import pytest

from sglang_continuum.core import MODES, ContinuumPolicy, LockDecision, PolicyConfig, PrefillModel
from sglang_continuum.core.ttl import ContentionGauge, priced_cold_start_ttl, priced_ttl
from tests.unit.test_core_policy import feed_durations

A, B = ("t", "a"), ("t", "b")
D = np.array([0.1, 0.2, 0.3, 5.0])


def test_price_one_is_the_papers_choice_on_the_grid():
    # gain 1: P*G - tau = .25-.1, .5-.2, .75-.3, 1-5 -> 0.3 (the paper's choose_ttl too)
    assert priced_ttl(D, 1.0, 1.0, 60.0) == pytest.approx(0.3)
    # gain 10, price 1: 2.4, 4.8, 7.2, 5.0 -> 0.3; price 0.1: 7.47 < 10 - 0.5 -> 5.0
    assert priced_ttl(D, 10.0, 1.0, 60.0) == pytest.approx(0.3)
    assert priced_ttl(D, 10.0, 0.1, 60.0) == pytest.approx(5.0)


def test_free_memory_locks_for_the_top_quantile_capped():
    assert priced_ttl(D, 1.0, 0.0, 60.0) == pytest.approx(5.0)
    # max_ttl 2 < 5: the candidate becomes 2 s with P = 3/4, a tie with 0.3 s -> 0.3
    assert priced_ttl(D, 1.0, 0.0, 2.0) == pytest.approx(0.3)
    many = np.arange(1, 1001, dtype=float)  # 1..1000 s
    assert priced_ttl(many, 1.0, 0.0, 5000.0, quantile=0.99) == 990.0
    assert priced_ttl(many, 1.0, 0.0, 120.0, quantile=0.99) == 120.0
    assert priced_ttl(np.array([]), 1.0, 0.0, 60.0) == 0.0
    assert priced_ttl(np.zeros(4), 1.0, 0.0, 60.0) == 0.0  # zero gaps catch nothing


def test_priced_cold_start_closed_form():
    e2 = math.e ** 2
    assert priced_cold_start_ttl(e2, 1.0) == pytest.approx(2.0)            # ln(G / m)
    assert priced_cold_start_ttl(math.e, 1 / math.e) == pytest.approx(2.0)  # ln(G/(p m))
    assert priced_cold_start_ttl(1.0, 0.0) == pytest.approx(-math.log(0.001))  # Exp q.999
    assert priced_cold_start_ttl(1.0, 0.0, quantile=0.99, max_ttl_s=3.0) == 3.0
    assert priced_cold_start_ttl(0.5, 1.0) == 0.0


def test_gauge_samples_unlocked_resumptions():
    g = ContentionGauge(window=4, saturation=0.5)
    g.resumed()
    assert g.level == 0.0 and g.price() == 1.0
    g.pressed()
    g.resumed()
    assert g.level == pytest.approx(0.25) and g.price() == pytest.approx(0.5)
    g.resumed()                   # 0.1875
    g.evicted()                   # that turn had lost its context: 0.4375
    g.evicted()                   # counted once
    assert g.level == pytest.approx(0.4375) and g.price() == pytest.approx(0.125)
    g.pressed()
    g.resumed()
    assert g.price() == 0.0


def _policy(**kw):
    cfg = dict(cold_start_samples=2, prefill_profile=PrefillModel(1.0, 0.0, 0.0))
    cfg.update(kw)
    return ContinuumPolicy(PolicyConfig(**cfg), 1000)


def test_default_holds_contended_locks_until_the_tool_returns():
    p = _policy()
    assert (PolicyConfig().mode, PolicyConfig().contention_saturation) == ("hold", 0.0)
    feed_durations(p, A, "cd", [0.1, 0.2, 0.3, 5.0])  # no pressure seen: still free
    assert p.snapshot().memory_price == 0.0
    assert p.on_finish(B, 100.0, 10, "cd", False) == LockDecision(60.0, "hold")


def test_priced_mode_prices_memory_by_contention():
    p = _policy(open_cold_start_samples=2, contention_saturation=0.05)
    feed_durations(p, A, "cd", [0.1, 0.2, 0.3, 5.0])  # four unlocked resumptions, no pressure
    assert p.on_finish(B, 100.0, 10, "cd", False) == LockDecision(pytest.approx(0.3),
                                                                "hold")
    # A request did not fit, then a later turn came back without a lock:
    # level 1/8 >= saturation 0.05 -> price 0 -> hold until the tool returns (max TTL).
    assert p.release_for_pressure() is None
    p.on_arrival(A, 200.0)
    p.on_admitted(A, 200.0)
    snap = p.snapshot()
    assert snap.contention == pytest.approx(1 / 8) and snap.memory_price == 0.0
    assert p.on_finish(B, 201.0, 10, "cd", False) == LockDecision(60.0, "hold")
    # A program that never announces its last turn: the tool's 0.999 quantile, 5 s.
    assert p.on_finish(B, 201.0, 10, "cd", False, open_ended=True) == \
        LockDecision(pytest.approx(5.0), "hold")
    # Hints are the client's: unchanged by the price.
    assert p.on_finish(B, 202.0, 10, "cd", False, 7.0) == LockDecision(7.0, "hint")


def test_contended_ttl_quantile_is_the_rule_before():
    p = _policy(contended_ttl="quantile", contention_saturation=0.05)
    feed_durations(p, A, "cd", [0.1, 0.2, 0.3, 5.0])
    assert p.release_for_pressure() is None
    p.on_arrival(A, 200.0)
    p.on_admitted(A, 200.0)
    assert p.snapshot().memory_price == 0.0
    assert p.on_finish(B, 201.0, 10, "cd", False) == LockDecision(pytest.approx(5.0),
                                                                "hold")
    with pytest.raises(ValueError, match="contended_ttl.*'max', 'quantile'"):
        PolicyConfig(contended_ttl="forever")


def test_contended_max_ttl_is_bounded_and_skips_the_prior():
    p = _policy(cold_start_samples=100, max_ttl_s=12.0,  # cold: no durations yet
                contention_saturation=0.05)
    p.on_arrival(A, 0.0)
    p.on_admitted(A, 0.0)
    p.on_finish(A, 0.0, 10, "cd", False)
    p.on_arrival(A, 1.0)
    p.record_queue_delay(0.5)
    p.on_admitted(A, 1.0)
    p.record_queue_delay(0.5)  # the resumed turn had lost its context: price 0
    assert p.on_finish(B, 2.0, 10, "cd", False) == LockDecision(12.0, "hold")


def test_cold_start_under_contention_uses_the_exp_quantile():
    p = _policy(cold_start_samples=100, prefill_profile=PrefillModel(0.0, 0.0, 0.0),
                contended_ttl="quantile", contention_saturation=0.05)
    p.on_arrival(A, 0.0)
    p.on_admitted(A, 0.0)
    p.on_finish(A, 0.0, 10, "cd", False)
    p.on_arrival(A, 1.0)
    p.record_queue_delay(0.5)  # unsampled: nothing to correct
    p.on_admitted(A, 1.0)      # resumed without a lock: sample 0
    p.record_queue_delay(0.5)  # ...that had lost its context: sample 1, level 1/8
    decision = p.on_finish(B, 2.0, 10, "cd", False)
    assert decision.reason == "cold_start"
    assert decision.ttl_s == pytest.approx(-math.log(0.001))


def test_modes_and_their_bounds():
    assert MODES == ("hold", "paper", "fixed", "off")
    for old in ("pressure", "cost_model"):  # earlier names are refused, naming the modes
        with pytest.raises(ValueError, match="hold"):
            PolicyConfig(mode=old)
    with pytest.raises(ValueError, match="lock_quantile"):
        PolicyConfig(lock_quantile=1.0)
    with pytest.raises(ValueError, match="contention_window"):
        PolicyConfig(contention_window=0)
    paper = _policy(mode="paper")
    feed_durations(paper, A, "cd", [0.1, 0.2, 0.3, 5.0])
    assert paper.on_finish(B, 100.0, 10, "cd", False) == LockDecision(pytest.approx(0.3),
                                                                    "cost_model")


def test_overdue_locks_are_those_past_their_tools_p99():
    p = _policy(mode="fixed", fixed_ttl_s=30.0)
    feed_durations(p, A, "cd", [1.0] * 99 + [2.0])  # p99 of "cd" = 1 s (nearest rank 99 of 100)
    t = 1000.0
    for key, tokens in ((("t", "x"), 100), (("t", "y"), 40)):
        assert p.on_finish(key, t, tokens, "cd", False).ttl_s == 30.0
        p.set_lock(key, t, 30.0, tokens, key)
    assert p.overdue_locked_tokens(t + 0.5) == 0
    assert p.snapshot(t + 1.5).overdue_locked_tokens == 140
    # y's tool returned after 2 s (p99 is now 2 s): its turn waits, it is not overdue
    p.on_arrival(("t", "y"), t + 2.0)
    assert p.overdue_locked_tokens(t + 2.0) == 0
    assert p.overdue_locked_tokens(t + 2.5) == 100
    assert p.snapshot().overdue_locked_tokens == 0  # no clock: not computed


def test_free_memory_shortcut_matches_the_full_candidate_scan():
    rng = np.random.default_rng(0)
    for _ in range(500):
        d = np.sort(rng.lognormal(0.0, 2.0, int(rng.integers(1, 300))))
        d[: int(rng.integers(0, 3))] = 0.0
        d.sort()
        gain, cap = float(rng.uniform(0.01, 50)), float(rng.choice([0.5, 2, 60, 1e4]))
        # price 1e-300: the general scan, numerically price 0
        assert priced_ttl(d, gain, 0.0, cap) == priced_ttl(d, gain, 1e-300, cap)


def _brute(samples, gain, price, max_ttl, quantile):
    """Every grid candidate scored directly (what the hull must agree with)."""
    from sglang_continuum.core.ttl import _candidate_ranks
    n = len(samples)
    if n == 0 or gain <= 0:
        return 0.0
    ranks, index = _candidate_ranks(n, quantile)
    best_tau, best = 0.0, 0.0
    for rank, i in zip(ranks, index):
        tau = float(samples[i])
        if tau > max_ttl:
            tau, rank = max_ttl, int(np.searchsorted(samples, max_ttl, side="right"))
        score = rank * gain / n - price * tau
        if tau > 0 and score > best + 1e-12:
            best, best_tau = score, tau
        if tau == max_ttl:
            break
    return best_tau


def test_hull_table_agrees_with_scoring_every_candidate():
    rng = np.random.default_rng(7)
    for _ in range(400):
        n = int(rng.integers(1, 3000))
        samples = np.sort(rng.lognormal(0.0, float(rng.uniform(0.2, 2.5)), n))
        gain, price = float(rng.uniform(0.01, 50)), float(rng.choice([0.0, 1.0, rng.uniform()]))
        max_ttl = float(rng.choice([0.5, 5.0, 60.0]))
        q = float(rng.choice([0.99, 0.999]))
        assert priced_ttl(samples, gain, price, max_ttl, q) == \
            pytest.approx(_brute(samples, gain, price, max_ttl, q)), (n, gain, price, max_ttl)


def test_the_rule_rebuilds_its_table_after_a_share_of_new_durations():
    from sglang_continuum.core.estimates import ToolStats
    from sglang_continuum.core.ttl import TABLE_REFRESH, TtlRules
    from sglang_continuum.core.ttl import ContentionGauge
    from sglang_continuum.core.estimates import EtaEstimator, QueueDelayWindow
    cfg = PolicyConfig(prefill_profile=PrefillModel(0.0, 0.0, 0.0), cold_start_samples=1,
                       contended_ttl="quantile")
    stats = ToolStats(10_000, 1)
    gauge = ContentionGauge(1, 0.5)
    gauge.pressed()
    gauge.resumed()                                    # price 0: the top quantile
    delay = QueueDelayWindow(4)
    delay.add(1.0)
    rules = TtlRules(cfg, stats, delay, EtaEstimator(), gauge)
    for _ in range(TABLE_REFRESH):
        stats.record("cd", 1.0)
    assert rules.hold("cd", 100) == (1.0, "hold")
    stats.record("cd", 9.0)                          # one new tail value out of 257
    assert rules.hold("cd", 100) == (1.0, "hold")  # kept: 1 new of n+1 < 1/REFRESH
    stats.record("cd", 9.0)
    assert rules.hold("cd", 100) == (9.0, "hold")  # rebuilt: p999 is now 9 s
