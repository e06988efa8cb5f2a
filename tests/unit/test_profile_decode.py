"""The step-time fit of ``python -m sglang_continuum.tools.profile_steps`` and its output."""

import pytest

from sglang_continuum.tools.profile_steps import fit_decode, fit_prefill, sim_profile
from sglang_continuum.sim.predictor import BatchShape
from sglang_continuum.sim.profiles import from_json


def test_fit_decode_recovers_exact_coefficients():
    d0, d1, d2 = 0.02, 0.003, 2e-6
    samples = [(b, ctx, d0 + d1 * b + d2 * ctx)
               for b, ctx in [(1, 300), (2, 600), (4, 1100), (8, 2500), (1, 2000), (2, 4000)]]
    fit = fit_decode(samples)
    assert fit["d0"] == pytest.approx(d0, rel=1e-6)
    assert fit["d1"] == pytest.approx(d1, rel=1e-6)
    assert fit["d2"] == pytest.approx(d2, rel=1e-6)


def test_fit_decode_is_non_negative():
    # step time falling with the batch: d1 would be negative; clamped at 0
    fit = fit_decode([(1, 100, 0.05), (2, 200, 0.04), (4, 400, 0.03), (8, 800, 0.02)])
    assert min(fit.values()) >= 0


def test_fit_prefill_recovers_the_prefix_term():
    a, b, c, e = 0.02, 3e-5, 6e-9, 2e-5
    grid = [(16, 0), (512, 0), (2048, 0), (3072, 0), (16, 1000), (16, 3000), (256, 2000)]
    fit = fit_prefill([(n, m, a + b * n + c * n * (2 * m + n) + e * m) for n, m in grid])
    for k, v in dict(a=a, b=b, c=c, e=e).items():
        assert fit[k] == pytest.approx(v, rel=1e-6)


def test_sim_profile_loads_as_a_simulator_profile():
    prefill = [(16, 0, 0.03), (1024, 0, 0.2), (2048, 0, 0.45), (16, 2000, 0.07)]
    decode = [(1, 300, 0.03), (2, 600, 0.035), (4, 1200, 0.045), (8, 2400, 0.07)]
    prof = from_json(sim_profile(prefill, decode, 6000, 4096, 2048, "cpu_tiny"))
    assert prof.kv_capacity_tokens == 6000 and prof.chunk_size == 4096
    assert not prof.placeholder
    assert prof.coefficients.a == pytest.approx(0.03, abs=0.02)


def test_prefix_term_reaches_the_predictor():
    data = sim_profile([(16, 0, 0.02), (16, 1000, 0.04), (16, 2000, 0.06), (512, 0, 0.05)],
                       [(1, 300, 0.01), (2, 600, 0.012)], 6000, 4096, 2048, "t")
    pred = from_json(data).predictor()
    e = data["prefill"]["e"]
    assert e > 0
    with_prefix = pred.batch_seconds(BatchShape(16, 16 * (2 * 2000 + 16), prefill_prefix=2000))
    fresh = pred.batch_seconds(BatchShape(16, 16 * 16))
    assert with_prefix - fresh == pytest.approx(e * 2000 + data["prefill"]["c"] * 16 * 4000)
