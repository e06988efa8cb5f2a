"""Event loop ordering and the predictor."""

import math

import pytest

from sglang_continuum.sim.loop import EventLoop
from sglang_continuum.sim.predictor import BatchShape, LinearPredictor, StepCoefficients
from sglang_continuum.sim.profiles import BUILTIN, from_json, load_profile


class Mark:
    def __init__(self, name, priority=1):
        self.name, self.priority = name, priority

    def fire(self, sim, now):
        sim.append((now, self.name))


def test_equal_times_run_by_priority_then_insertion_order():
    loop, seen = EventLoop(), []
    loop.schedule(1.0, Mark("b"))
    loop.schedule(1.0, Mark("c"))
    loop.schedule(0.5, Mark("a"))
    loop.schedule(1.0, Mark("first", priority=0))
    loop.schedule(1.0, Mark("d"))
    loop.run(seen)
    assert seen == [(0.5, "a"), (1.0, "first"), (1.0, "b"), (1.0, "c"), (1.0, "d")]


def test_events_may_schedule_events_and_past_is_rejected():
    loop, seen = EventLoop(), []

    class Chain(Mark):
        def fire(self, sim, now):
            super().fire(sim, now)
            if now < 3:
                loop.schedule(now + 1, Chain("x"))

    loop.schedule(1.0, Chain("x"))
    loop.run(seen)
    assert [t for t, _ in seen] == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError):
        loop.schedule(2.0, Mark("late"))


K = StepCoefficients(a=0.01, b=1e-4, c=1e-8, d0=0.02, d1=1e-3, d2=1e-6)


def test_prefill_cost_is_quadratic_from_scratch_and_linear_over_prefix():
    p = LinearPredictor(K)
    assert p.batch_seconds(BatchShape(1000, 1000 * 1000)) == pytest.approx(0.01 + 0.1 + 0.01)
    # 100 new tokens over 900 cached: attention n*(2m+n)
    assert p.batch_seconds(BatchShape(100, 100 * (1800 + 100))) == pytest.approx(
        0.01 + 0.01 + 1e-8 * 190_000)
    assert p.batch_seconds(BatchShape(decode_requests=4, decode_context=1000)) == \
        pytest.approx(0.02 + 0.004 + 0.001)


def test_decode_macro_step_equals_sum_of_single_steps_and_respects_horizon():
    p = LinearPredictor(K)
    total = sum(p.batch_seconds(BatchShape(decode_requests=8, decode_context=5000 + 8 * j))
                for j in range(50))
    steps, seconds = p.decode_steps_within(8, 5000, math.inf, 50)
    assert steps == 50 and seconds == pytest.approx(total)
    steps, seconds = p.decode_steps_within(8, 5000, total / 2, 50)
    assert 1 <= steps < 50 and seconds <= total / 2 + 1e-12
    assert p.decode_steps_within(8, 5000, 1e-9, 50)[0] == 1  # at least one step


def test_profiles_builtin_and_measured_fit():
    for name in BUILTIN:
        prof = load_profile(name)
        assert prof.kv_capacity_tokens > 0
    tiny = load_profile("cpu_tiny")  # measured on a CPU, no longer a placeholder
    assert not tiny.placeholder and tiny.kv_capacity_tokens == 6000 and tiny.coefficients.e > 0
    h100 = load_profile("llama3.1-8b-h100")
    assert 300_000 < h100.kv_capacity_tokens < 500_000  # ~50 GB / 128 KiB per token
    fit = from_json({"prefill": {"a": 0.1, "b": 0.001, "c": 0.0},
                     "decode": {"d0": 0.05, "d1": 0.0, "d2": 0.0}, "kv_capacity_tokens": 1000})
    assert fit.predictor().batch_seconds(BatchShape(100, 100 * 100)) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="prefill"):
        from_json({"decode": {}, "kv_capacity_tokens": 1})
    with pytest.raises(ValueError, match="unknown profile"):
        load_profile("nope")
