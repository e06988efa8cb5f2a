"""The overlay's server settings: CLI flags, config file, and the hand-off to SGLang's
scheduler process.

This layer only parses: the policy's knobs, their defaults and their validation are
the core's :class:`~sglang_continuum.core.PolicyConfig`. The launcher parses
``--continuum-*`` flags (or ``--continuum-config FILE``) into :class:`Settings` and
passes them to every SGLang process in one JSON environment variable
(``SGLANG_CONTINUUM_SETTINGS``) that the plugin reads when the cache is built. Nothing
reads it at import time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from sglang_continuum.core import PolicyConfig, PrefillModel
from sglang_continuum.core.config import (
    CONTENDED_TTLS,
    PLAIN_REQUESTS,
    PRESSURE_SCOPES,
)

ENV_VAR = "SGLANG_CONTINUUM_SETTINGS"
BACKEND_NAME = "continuum"
# The user's spelling of PolicyConfig.mode (flags and config files; the modes' own names
# too). "cost-model", the paper's rule's earlier name, is an alias of "paper".
POLICIES = {"hold": "hold", "cost-model": "paper", "paper": "paper",
            "fixed": "fixed", "off": "off"}
_POLICY_NAMES = {mode: name for name, mode in POLICIES.items()}
DP_ROUTING = ("sticky", "sglang")
FIRST_TURNS = ("learned", "plain")
_PROFILE_NOTES = ("source", "max_tokens")  # written by the profiler; not coefficients


@dataclass(frozen=True)
class Settings:
    """What a server runs with: the policy core's config, and how often the adapter logs
    its status line (the one knob that is the server's, not the policy's)."""

    policy: PolicyConfig = field(default_factory=PolicyConfig)
    status_interval_s: float = 10.0
    # Requests with no program id get one inferred from their prompt (core/identity.py).
    infer_programs: bool = True
    # With --dp-size N: "sticky" routes a program's turns to the rank holding its KV
    # (core/dp_routing.py); "sglang" keeps SGLang's --load-balance-method.
    dp_routing: str = "sticky"
    # Inferred first turns (a request that continues nothing): "learned" (default) locks
    # and ranks them by the learned share that is continued (core/inferred.py FirstTurns);
    # "plain" treats them as plain requests until continued (the rule before).
    first_turns: str = "learned"

    def __post_init__(self):
        if not isinstance(self.policy, PolicyConfig):
            raise ValueError(f"Settings.policy: expected a PolicyConfig, got {self.policy!r}")
        v = self.status_interval_s
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or v < 0:
            raise ValueError(f"continuum setting 'status_interval_s'={v!r}: must be a "
                             "finite number of seconds >= 0")
        if not isinstance(self.infer_programs, bool):
            raise ValueError(f"continuum setting 'infer_programs'={self.infer_programs!r}: "
                             "must be true or false")
        if self.first_turns not in FIRST_TURNS:
            raise ValueError(f"continuum setting 'first_turns'={self.first_turns!r}: accepted "
                             f"values are {', '.join(FIRST_TURNS)}")
        if self.dp_routing not in DP_ROUTING:
            raise ValueError(f"continuum setting 'dp_routing'={self.dp_routing!r}: accepted "
                             f"values are {', '.join(DP_ROUTING)}")

    def to_mapping(self) -> dict:
        """The flat form of a config file (keys as in the README)."""
        out = {f.name: getattr(self.policy, f.name) for f in fields(PolicyConfig)}
        out["policy"] = _POLICY_NAMES[out.pop("mode")]
        out["prefill_profile"] = self.policy.prefill_profile.to_dict()
        reload = self.policy.host_reload_profile
        out["host_reload_profile"] = None if reload is None else reload.to_dict()
        out["status_interval_s"] = self.status_interval_s
        out["infer_programs"] = self.infer_programs
        out["dp_routing"] = self.dp_routing
        out["first_turns"] = self.first_turns
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_mapping(), sort_keys=True)

    @classmethod
    def from_mapping(cls, data: dict) -> "Settings":
        known = {"policy", "status_interval_s", "infer_programs", "dp_routing", "first_turns"} \
            | {f.name for f in fields(PolicyConfig)}
        known.discard("mode")
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"unknown continuum setting(s) {sorted(unknown)}; accepted: {sorted(known)}")
        cfg = dict(data)
        interval = cfg.pop("status_interval_s", cls.status_interval_s)
        infer = cfg.pop("infer_programs", cls.infer_programs)
        dp_routing = cfg.pop("dp_routing", cls.dp_routing)
        first_turns = cfg.pop("first_turns", cls.first_turns)
        if "policy" in cfg:
            name = cfg.pop("policy")
            if name not in POLICIES and name not in _POLICY_NAMES:
                raise ValueError(f"continuum setting 'policy'={name!r}: accepted values are "
                                 f"{', '.join(POLICIES)}")
            cfg["mode"] = POLICIES.get(name, name)
        if "prefill_profile" in cfg:
            cfg["prefill_profile"] = _prefill(cfg["prefill_profile"])
        if cfg.get("host_reload_profile") is not None:
            cfg["host_reload_profile"] = _prefill(cfg["host_reload_profile"],
                                                  "host_reload_profile")
        return cls(PolicyConfig(**cfg), interval, infer, dp_routing, first_turns)

    @classmethod
    def from_env(cls, environ=os.environ) -> "Settings | None":
        raw = environ.get(ENV_VAR)
        return None if raw is None else cls.from_mapping(json.loads(raw))


def _prefill(profile, name: str = "prefill_profile") -> PrefillModel:
    if not isinstance(profile, dict):
        raise ValueError(f"continuum setting '{name}'={profile!r}: must be a "
                         "mapping with keys a, b, c (seconds = a + b*n + c*n^2)")
    return PrefillModel.from_dict({k: v for k, v in profile.items()
                                   if k not in _PROFILE_NOTES})


def add_cli_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("sglang-continuum (TTL-locked KV cache for agents)")
    g.add_argument("--continuum-disable", action="store_true",
                   help="Serve exactly as stock SGLang (the overlay is not installed).")
    g.add_argument("--continuum-config", type=Path, metavar="FILE",
                   help="JSON file of settings (keys as in the README); flags override it.")
    g.add_argument("--continuum-policy", choices=tuple(POLICIES),
                   help="pressure (default): the paper's cost model with memory priced by "
                        "contention (long locks only when the pool is contended); paper "
                        "(alias cost-model): the paper's rule; fixed: the authors' "
                        "prototype, a fixed TTL; off: no TTL locks.")
    g.add_argument("--continuum-fixed-ttl", type=float, dest="continuum_fixed_ttl_s",
                   metavar="SECONDS", help="TTL of the 'fixed' policy (default 2).")
    g.add_argument("--continuum-max-ttl", type=float, dest="continuum_max_ttl_s",
                   metavar="SECONDS", help="Upper bound on any TTL, client hints included "
                   "(default 60).")
    g.add_argument("--continuum-queue-age-cap", type=float,
                   dest="continuum_queue_age_cap_s", metavar="SECONDS",
                   help="Program FCFS ranks a turn at most this much before its own arrival, "
                        "so requests without a program id are overtaken only by turns that "
                        "arrive within it (default 180; inf: pure program FCFS).")
    g.add_argument("--continuum-no-program-fcfs", action="store_true",
                   help="Keep SGLang's waiting-queue order instead of program-level FCFS.")
    g.add_argument("--continuum-plain-requests", choices=PLAIN_REQUESTS,
                   help="Requests without a program id beside agents. aged (default): "
                        "ranked as a program that began one queue age cap before the "
                        "request; fcfs (the rule before): ranked by their own arrival among "
                        "programs' first arrivals; ahead: served before agent turns that "
                        "hold no lock, and may take any lock under pressure.")
    g.add_argument("--continuum-pressure-scope", choices=PRESSURE_SCOPES,
                   help="Which locks give way when a waiting request does not fit. younger "
                        "(default): only programs that arrived after the waiting request's "
                        "program, unless the engine would idle; any: the youngest program's "
                        "lock whoever waits (the paper's rule).")
    g.add_argument("--continuum-contended-ttl", choices=CONTENDED_TTLS,
                   help="Policy pressure, once the pool is contended: max (default) holds a "
                        "lock until the tool returns, bounded by --continuum-max-ttl; "
                        "quantile (the rule before) holds it for the tool's 99.9th "
                        "percentile duration. Inferred programs always take the quantile.")
    g.add_argument("--continuum-contention-saturation", type=float, metavar="SHARE",
                   help="Policy pressure: 0 (default) holds memory free (locks give way to "
                        "older programs and an idle engine anyway); > 0 prices memory as "
                        "the paper does until this share of unlocked resumptions met "
                        "pressure (0.05: the rule before 2026-12-03).")
    g.add_argument("--continuum-lock-budget", type=float, dest="continuum_lock_budget_fraction",
                   metavar="FRACTION", help="Share of KV capacity TTL locks may hold (default 1.0).")
    g.add_argument("--continuum-per-program-cap", type=float,
                   dest="continuum_per_program_max_fraction", metavar="FRACTION",
                   help="Share of KV capacity one program's lock may hold (default 0.5).")
    g.add_argument("--continuum-tenant-share", type=float, dest="continuum_per_tenant_fraction",
                   metavar="FRACTION", help="Share of KV capacity one tenant's locks may hold "
                   "(default 1.0: no per-tenant limit beyond the lock budget).")
    g.add_argument("--continuum-prefill-profile", type=Path, metavar="FILE",
                   help="JSON written by `python -m sglang_continuum.profile` "
                        "(prefill seconds = a + b*n + c*n^2; with --host-reload, also "
                        "the host tier's reload time, used with a host tier).")
    g.add_argument("--continuum-infer-programs", choices=("on", "off"),
                   help="on (default): a request with no program id continues the program "
                        "whose finished turn its prompt extends (same tenant), or starts a "
                        "new one, so unmodified agents get locks (a new program's first "
                        "turn: see --continuum-first-turns); off: such requests are served "
                        "as stock SGLang requests.")
    g.add_argument("--continuum-first-turns", choices=FIRST_TURNS,
                   help="With program inference: learned (default) locks a request that "
                        "continues nothing, and ranks it, by the learned share of such "
                        "requests that later prompts continue (agents' first turns); plain: "
                        "such a request is a plain request until continued (no lock, the "
                        "plain requests' rank).")
    g.add_argument("--continuum-dp-routing", choices=DP_ROUTING,
                   help="With --dp-size N: sticky (default) sends every turn of a program "
                        "to the rank holding its KV and new programs to the least loaded "
                        "rank; sglang keeps SGLang's --load-balance-method.")
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
                 "per_tenant_fraction", "status_interval_s", "queue_age_cap_s",
                 "contention_saturation"):
        v = getattr(ns, f"continuum_{name}", None)
        if v is not None:
            data[name] = v
    if ns.continuum_pressure_scope is not None:
        data["pressure_scope"] = ns.continuum_pressure_scope
    if getattr(ns, "continuum_contended_ttl", None) is not None:
        data["contended_ttl"] = ns.continuum_contended_ttl
    if getattr(ns, "continuum_plain_requests", None) is not None:
        data["plain_requests"] = ns.continuum_plain_requests
    if getattr(ns, "continuum_infer_programs", None) is not None:
        data["infer_programs"] = ns.continuum_infer_programs == "on"
    if getattr(ns, "continuum_first_turns", None) is not None:
        data["first_turns"] = ns.continuum_first_turns
    if getattr(ns, "continuum_dp_routing", None) is not None:
        data["dp_routing"] = ns.continuum_dp_routing
    if ns.continuum_no_program_fcfs:
        data["program_fcfs"] = False
    if ns.continuum_prefill_profile is not None:
        prof = json.loads(Path(ns.continuum_prefill_profile).read_text())
        data["prefill_profile"] = {k: prof[k] for k in ("a", "b", "c")}
        if "host_reload" in prof:
            data["host_reload_profile"] = {k: prof["host_reload"][k]
                                           for k in ("a", "b", "c")}
    return Settings.from_mapping(data)
