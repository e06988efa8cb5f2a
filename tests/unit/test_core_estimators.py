import math
import statistics

import pytest

from sglang_continuum.core import EtaEstimator, QueueDelayWindow


def test_queue_delay_window_mean_slides():
    w = QueueDelayWindow(3)
    assert w.mean() == 0.0
    for v in [1.0, 2.0, 3.0]:
        w.add(v)
    assert w.mean() == 2.0
    w.add(7.0)  # drops 1.0
    assert w.mean() == 4.0
    w.add(math.nan)
    w.add(-5.0)  # counts as 0, drops 2.0
    assert w.mean() == pytest.approx(10.0 / 3)
    assert len(w) == 3


def test_queue_delay_window_no_drift():
    w = QueueDelayWindow(4)
    for i in range(10_001):
        w.add(0.1 * (i % 7))
    expected = sum(0.1 * (i % 7) for i in range(9_997, 10_001)) / 4
    assert w.mean() == pytest.approx(expected, abs=1e-12)


def test_queue_delay_window_rejects_bad_size():
    with pytest.raises(ValueError, match="size"):
        QueueDelayWindow(0)


def test_eta_is_one_before_data():
    eta = EtaEstimator()
    assert eta.eta() == 1.0
    eta.add_program(1)  # (1, 0) alone has no variance
    assert eta.eta() == 1.0


def test_eta_fixed_turn_programs_is_one():
    eta = EtaEstimator()
    for _ in range(5):
        eta.add_program(10)
    assert eta.eta() == pytest.approx(1.0)


def test_eta_mixed_by_hand():
    # pairs (1,0), (1,2), (2,1), (3,0): Corr = -1.25 / 2.75
    eta = EtaEstimator()
    eta.add_program(1)
    eta.add_program(3)
    assert eta.eta() == pytest.approx(1.25 / 2.75)


def test_eta_matches_pearson_over_pairs():
    turns = [2, 5, 5, 9, 13, 1, 4]
    eta = EtaEstimator()
    xs, ys = [], []
    for n in turns:
        eta.add_program(n)
        xs += list(range(1, n + 1))
        ys += [n - k for k in range(1, n + 1)]
    assert eta.eta() == pytest.approx(-statistics.correlation(xs, ys))


def test_eta_memoryless_is_near_zero():
    # Geometric(1/2) turn counts: remaining turns do not depend on turns done.
    eta = EtaEstimator()
    for n in range(1, 31):
        eta.add_program(n, count=2 ** (30 - n))
    assert 0.0 <= eta.eta() < 0.01
