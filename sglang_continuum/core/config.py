"""Policy configuration, validated once at construction."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .prefill import PrefillModel

MODES = ("cost_model", "fixed", "off")
PRESSURE_SCOPES = ("younger", "any")


@dataclass(frozen=True)
class PolicyConfig:
    """Knobs of the Continuum policy. Invalid values raise ValueError naming the field."""

    mode: str = "cost_model"
    fixed_ttl_s: float = 2.0
    max_ttl_s: float = 60.0
    cold_start_samples: int = 100
    cold_start_mean_s: float = 1.0
    duration_window: int = 10_000
    queue_delay_window: int = 256
    program_fcfs: bool = True
    lock_budget_fraction: float = 0.5
    per_program_max_fraction: float = 0.25
    per_tenant_fraction: float = 1.0
    # Unprofiled default: ~10k tokens/s. Replace with PrefillModel.fit on the target GPU.
    prefill_profile: PrefillModel = field(default_factory=lambda: PrefillModel(0.0, 1e-4, 0.0))
    max_programs: int = 100_000
    max_tools: int = 1024
    # Which locks give way when the head of the queue does not fit. "younger": only
    # locks of programs that arrived after the head's program, unless the engine would
    # otherwise idle. "any": the youngest program's lock, whoever the head is (the paper).
    pressure_scope: str = "younger"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"PolicyConfig.mode: expected one of {MODES}, got {self.mode!r}")
        if self.pressure_scope not in PRESSURE_SCOPES:
            raise ValueError(f"PolicyConfig.pressure_scope: expected one of {PRESSURE_SCOPES}, "
                             f"got {self.pressure_scope!r}")
        _number(self, "fixed_ttl_s", low=0.0)
        _number(self, "max_ttl_s", low=0.0)
        _number(self, "cold_start_mean_s", low=0.0, strict=True)
        _integer(self, "cold_start_samples", low=0)
        _integer(self, "duration_window", low=1)
        _integer(self, "queue_delay_window", low=1)
        _integer(self, "max_programs", low=1)
        _integer(self, "max_tools", low=1)
        for name in ("lock_budget_fraction", "per_program_max_fraction", "per_tenant_fraction"):
            _number(self, name, low=0.0, high=1.0)
        if not isinstance(self.program_fcfs, bool):
            raise ValueError(
                f"PolicyConfig.program_fcfs: expected true or false, got {self.program_fcfs!r}"
            )
        if not isinstance(self.prefill_profile, PrefillModel):
            raise ValueError(
                "PolicyConfig.prefill_profile: expected a PrefillModel, "
                f"got {type(self.prefill_profile).__name__}"
            )


def _number(cfg: PolicyConfig, name: str, low: float, high: float = math.inf,
            strict: bool = False) -> None:
    value = getattr(cfg, name)
    ok = (not isinstance(value, bool) and isinstance(value, (int, float))
          and math.isfinite(value) and low <= value <= high and not (strict and value == low))
    if not ok:
        bound = f"> {low}" if strict else f">= {low}"
        upper = f" and <= {high}" if math.isfinite(high) else ""
        raise ValueError(f"PolicyConfig.{name}: expected a finite number {bound}{upper}, "
                         f"got {value!r}")


def _integer(cfg: PolicyConfig, name: str, low: int) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"PolicyConfig.{name}: expected an integer >= {low}, got {value!r}")
