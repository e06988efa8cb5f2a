import math

import pytest

from sglang_continuum.core import PolicyConfig, PrefillModel


def test_prefill_seconds_quadratic():
    m = PrefillModel(0.5, 0.01, 0.001)
    assert m.seconds(0) == 0.5
    assert m.seconds(10) == pytest.approx(0.5 + 0.1 + 0.1)
    assert m.seconds(-3) == 0.5


def test_prefill_fit_recovers_coefficients():
    true = PrefillModel(0.01, 2e-5, 3e-10)
    samples = [(n, true.seconds(n)) for n in (128, 1024, 4096, 8192, 16384, 32768, 65536)]
    fit = PrefillModel.fit(samples)
    assert fit.a == pytest.approx(true.a, rel=1e-6)
    assert fit.b == pytest.approx(true.b, rel=1e-6)
    assert fit.c == pytest.approx(true.c, rel=1e-6)


def test_prefill_fit_keeps_coefficients_non_negative():
    # The unconstrained fit would have a negative intercept.
    samples = [(n, -0.05 + 1e-4 * n) for n in range(1000, 10001, 1000)]
    fit = PrefillModel.fit(samples)
    assert fit.a == 0.0 and fit.b >= 0.0 and fit.c >= 0.0
    sse = sum((fit.seconds(n) - s) ** 2 for n, s in samples)
    assert sse < sum(s * s for _, s in samples)


def test_prefill_fit_single_point_and_errors():
    assert PrefillModel.fit([(0, 0.2)]).a == pytest.approx(0.2)
    with pytest.raises(ValueError, match="at least one"):
        PrefillModel.fit([])
    with pytest.raises(ValueError, match="finite"):
        PrefillModel.fit([(10, math.nan)])


def test_prefill_dict_round_trip_and_validation():
    m = PrefillModel(0.1, 0.2, 0.3)
    assert PrefillModel.from_dict(m.to_dict()) == m
    with pytest.raises(ValueError, match="unknown keys"):
        PrefillModel.from_dict({"a": 1.0, "d": 2.0})
    with pytest.raises(ValueError, match=r"PrefillModel\.b"):
        PrefillModel(0.0, -1.0, 0.0)


def test_config_defaults_are_valid():
    cfg = PolicyConfig()
    assert cfg.mode == "hold" and cfg.fixed_ttl_s == 2.0 and cfg.max_ttl_s == 60.0
    assert cfg.cold_start_samples == 100 and cfg.duration_window == 10_000


@pytest.mark.parametrize("field, value", [
    ("mode", "bogus"),
    ("fixed_ttl_s", -1.0),
    ("max_ttl_s", math.nan),
    ("max_ttl_s", math.inf),
    ("cold_start_samples", -1),
    ("cold_start_samples", 1.5),
    ("cold_start_mean_s", 0.0),
    ("duration_window", 0),
    ("queue_delay_window", True),
    ("lock_budget_fraction", 1.5),
    ("per_program_max_fraction", -0.1),
    ("per_tenant_fraction", math.nan),
    ("program_fcfs", "yes"),
    ("prefill_profile", (1.0, 2.0, 3.0)),
    ("max_programs", 0),
    ("max_tools", 0),
    ("tenant_window", 0),
    ("tenant_tools", 1.5),
    ("max_tool_tenants", -1),
])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"PolicyConfig\.{field}: expected"):
        PolicyConfig(**{field: value})
