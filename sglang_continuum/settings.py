"""The overlay's server settings: CLI flags, config file, and the hand-off to SGLang's
scheduler process.

The launcher parses ``--continuum-*`` flags (or ``--continuum-config FILE``), validates
them into :class:`Settings`, and passes them to every SGLang process in one JSON
environment variable (``SGLANG_CONTINUUM_SETTINGS``) that the plugin reads when the
cache is built. Nothing reads it at import time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

ENV_VAR = "SGLANG_CONTINUUM_SETTINGS"
BACKEND_NAME = "continuum"
POLICIES = ("cost-model", "fixed", "off")
PRESSURE_SCOPES = ("younger", "any")


@dataclass(frozen=True)
class Settings:
    """Effective overlay settings (validated; every bound is documented in the README)."""

    policy: str = "cost-model"
    fixed_ttl_s: float = 2.0
    max_ttl_s: float = 60.0
    program_fcfs: bool = True
    lock_budget_fraction: float = 0.5
    per_program_max_fraction: float = 0.25
    per_tenant_fraction: float = 1.0
    cold_start_samples: int = 100
    prefill_profile: dict = field(default_factory=lambda: {"a": 0.0, "b": 1.0e-4, "c": 0.0})
    status_interval_s: float = 10.0
    pressure_scope: str = "younger"
    max_programs: int = 100_000

    def __post_init__(self):
        def bad(name, accepted):
            raise ValueError(f"continuum setting {name!r}={getattr(self, name)!r}: {accepted}")

        if self.policy not in POLICIES:
            bad("policy", f"accepted values are {', '.join(POLICIES)}")
        if self.pressure_scope not in PRESSURE_SCOPES:
            bad("pressure_scope", f"accepted values are {', '.join(PRESSURE_SCOPES)}")
        for name in ("fixed_ttl_s", "max_ttl_s", "status_interval_s"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                bad(name, "must be a finite number of seconds >= 0")
        for name in ("lock_budget_fraction", "per_program_max_fraction", "per_tenant_fraction"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                bad(name, "must be a fraction in [0, 1]")
        if not isinstance(self.cold_start_samples, int) or self.cold_start_samples < 1:
            bad("cold_start_samples", "must be an integer >= 1")
        if not isinstance(self.max_programs, int) or self.max_programs < 1:
            bad("max_programs", "must be an integer >= 1")
        prof = self.prefill_profile
        if not isinstance(prof, dict) or set(prof) - {"a", "b", "c", "source", "max_tokens"}:
            bad("prefill_profile", "must be a mapping with keys a, b, c (seconds = a + b*n + c*n^2)")
        for k in ("a", "b", "c"):
            v = prof.get(k, 0.0)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                bad("prefill_profile", f"coefficient {k} must be a finite number >= 0")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_mapping(cls, data: dict) -> "Settings":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"unknown continuum setting(s) {sorted(unknown)}; accepted: {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_env(cls, environ=os.environ) -> "Settings | None":
        raw = environ.get(ENV_VAR)
        return None if raw is None else cls.from_mapping(json.loads(raw))


def add_cli_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("sglang-continuum (TTL-locked KV cache for agents)")
    g.add_argument("--continuum-disable", action="store_true",
                   help="Serve exactly as stock SGLang (the overlay is not installed).")
    g.add_argument("--continuum-config", type=Path, metavar="FILE",
                   help="JSON file of settings (keys as in the README); flags override it.")
    g.add_argument("--continuum-policy", choices=POLICIES,
                   help="cost-model: TTL from the paper's cost model (default); fixed: the "
                        "authors' prototype, a fixed TTL; off: no TTL locks.")
    g.add_argument("--continuum-fixed-ttl", type=float, dest="continuum_fixed_ttl_s",
                   metavar="SECONDS", help="TTL of the 'fixed' policy (default 2).")
    g.add_argument("--continuum-max-ttl", type=float, dest="continuum_max_ttl_s",
                   metavar="SECONDS", help="Upper bound on any TTL, client hints included "
                   "(default 60).")
    g.add_argument("--continuum-no-program-fcfs", action="store_true",
                   help="Keep SGLang's waiting-queue order instead of program-level FCFS.")
    g.add_argument("--continuum-pressure-scope", choices=PRESSURE_SCOPES,
                   help="Which locks give way when a waiting request does not fit. younger "
                        "(default): only programs that arrived after the waiting request's "
                        "program, unless the engine would idle; any: the youngest program's "
                        "lock whoever waits (the paper's rule).")
    g.add_argument("--continuum-lock-budget", type=float, dest="continuum_lock_budget_fraction",
                   metavar="FRACTION", help="Share of KV capacity TTL locks may hold (default 0.5).")
    g.add_argument("--continuum-per-program-cap", type=float,
                   dest="continuum_per_program_max_fraction", metavar="FRACTION",
                   help="Share of KV capacity one program's lock may hold (default 0.25).")
    g.add_argument("--continuum-tenant-share", type=float, dest="continuum_per_tenant_fraction",
                   metavar="FRACTION", help="Share of KV capacity one tenant's locks may hold "
                   "(default 1.0: no per-tenant limit beyond the lock budget).")
    g.add_argument("--continuum-prefill-profile", type=Path, metavar="FILE",
                   help="JSON written by `python -m sglang_continuum.profile` "
                        "(prefill seconds = a + b*n + c*n^2).")
    g.add_argument("--continuum-status-interval", type=float, dest="continuum_status_interval_s",
                   metavar="SECONDS", help="Seconds between JSON status log lines (0: never).")


def settings_from_args(ns: argparse.Namespace) -> Settings:
    data: dict = {}
    if ns.continuum_config is not None:
        try:
            data.update(json.loads(Path(ns.continuum_config).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"--continuum-config {ns.continuum_config}: {e}") from e
    if ns.continuum_policy is not None:
        data["policy"] = ns.continuum_policy
    for name in ("fixed_ttl_s", "max_ttl_s", "lock_budget_fraction", "per_program_max_fraction",
                 "per_tenant_fraction", "status_interval_s"):
        v = getattr(ns, f"continuum_{name}", None)
        if v is not None:
            data[name] = v
    if ns.continuum_pressure_scope is not None:
        data["pressure_scope"] = ns.continuum_pressure_scope
    if ns.continuum_no_program_fcfs:
        data["program_fcfs"] = False
    if ns.continuum_prefill_profile is not None:
        prof = json.loads(Path(ns.continuum_prefill_profile).read_text())
        data["prefill_profile"] = {k: prof[k] for k in ("a", "b", "c")}
    return Settings.from_mapping(data)
