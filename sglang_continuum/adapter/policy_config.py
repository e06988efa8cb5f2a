"""Server settings -> the policy core's PolicyConfig."""

from __future__ import annotations

from sglang_continuum.core import PolicyConfig, PrefillModel
from sglang_continuum.settings import Settings


def policy_config_from_settings(s: Settings) -> PolicyConfig:
    p = s.prefill_profile
    return PolicyConfig(
        mode=s.policy.replace("-", "_"),
        fixed_ttl_s=float(s.fixed_ttl_s),
        max_ttl_s=float(s.max_ttl_s),
        cold_start_samples=s.cold_start_samples,
        program_fcfs=s.program_fcfs,
        lock_budget_fraction=float(s.lock_budget_fraction),
        per_program_max_fraction=float(s.per_program_max_fraction),
        per_tenant_fraction=float(s.per_tenant_fraction),
        prefill_profile=PrefillModel(float(p.get("a", 0.0)), float(p.get("b", 0.0)),
                                     float(p.get("c", 0.0))),
        max_programs=s.max_programs,
        pressure_scope=s.pressure_scope,
    )
