import math
import random
import time

import numpy as np
import pytest

from sglang_continuum.core import choose_ttl, cold_start_ttl


def brute_force_score(samples, gain, max_ttl):
    n = len(samples)
    best = 0.0
    for tau in samples:
        if 0 < tau <= max_ttl:
            best = max(best, sum(d <= tau for d in samples) / n * gain - tau)
    return best


def score(samples, tau, gain):
    return sum(d <= tau for d in samples) / len(samples) * gain - tau if tau > 0 else 0.0


@pytest.mark.parametrize("samples, gain, max_ttl, expected", [
    # scores: .25-.1=.15, .5-.2=.3, .75-.3=.45, 1-5=-4  -> 0.3
    ([0.1, 0.2, 0.3, 5.0], 1.0, 60.0, 0.3),
    # every score negative -> do not lock
    ([0.1, 0.2, 0.3, 5.0], 0.3, 60.0, 0.0),
    # 100-5=95 beats 75-.3=74.7
    ([0.1, 0.2, 0.3, 5.0], 100.0, 60.0, 5.0),
    # 5.0 above max_ttl: constrained optimum is 0.3, not 5.0 clamped to 1.0
    ([0.1, 0.2, 0.3, 5.0], 100.0, 1.0, 0.3),
    # duplicates: P(1) = 3/4 -> 1.5-1 = .5 beats 2-10
    ([1.0, 1.0, 1.0, 10.0], 2.0, 60.0, 1.0),
    # tie between tau=1 (0.5*4-1=1) and tau=3 (1*4-3=1): smaller tau wins
    ([1.0, 3.0], 4.0, 60.0, 1.0),
    # tie with 0 (score exactly 0) -> do not lock
    ([1.0], 1.0, 60.0, 0.0),
    ([], 10.0, 60.0, 0.0),
    ([0.5], 0.0, 60.0, 0.0),
    ([0.5], 10.0, 0.0, 0.0),
    # zero durations raise P but a 0 s lock catches nothing: 2*1 - 1 = 1 > 0
    ([0.0, 0.0, 0.0, 1.0], 2.0, 60.0, 1.0),
    ([0.0, 0.0], 2.0, 60.0, 0.0),
])
def test_choose_ttl_by_hand(samples, gain, max_ttl, expected):
    assert choose_ttl(samples, gain, max_ttl) == expected


def test_choose_ttl_matches_brute_force():
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(1, 40)
        samples = sorted(round(rng.expovariate(1.0), 1) for _ in range(n))
        gain = rng.uniform(0.0, 8.0)
        max_ttl = rng.choice([0.5, 2.0, 60.0])
        tau = choose_ttl(samples, gain, max_ttl)
        assert tau <= max_ttl
        assert tau == 0.0 or tau in samples
        assert score(samples, tau, gain) == pytest.approx(
            brute_force_score(samples, gain, max_ttl), abs=1e-12)


def test_choose_ttl_accepts_numpy_and_lists_alike():
    samples = [0.1, 0.2, 0.3, 5.0]
    assert choose_ttl(np.array(samples), 1.0, 60.0) == choose_ttl(samples, 1.0, 60.0)


@pytest.mark.parametrize("gain, mean, max_ttl, expected", [
    (math.e ** 2, 1.0, math.inf, 2.0),
    (2 * math.e, 2.0, math.inf, 2.0),
    (1.0, 1.0, math.inf, 0.0),     # G <= mean: not worth locking
    (0.5, 1.0, math.inf, 0.0),
    (math.e ** 10, 1.0, 3.0, 3.0),  # clamped
    (math.e ** 2, 1.0, 0.0, 0.0),
])
def test_cold_start_closed_form(gain, mean, max_ttl, expected):
    assert cold_start_ttl(gain, mean, max_ttl) == pytest.approx(expected)


def test_exp_quantiles_converge_to_cold_start_closed_form():
    n = 10_000
    samples = [-math.log(1 - (i + 0.5) / n) for i in range(n)]
    assert choose_ttl(samples, 5.0, 60.0) == pytest.approx(cold_start_ttl(5.0), abs=0.01)
