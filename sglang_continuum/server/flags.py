"""The launcher's ``--continuum-*`` flags and ``--continuum-config FILE``.

The flags are what an operator sets; every other knob (the research and ablation
settings of the policy) is a key of the config file. A flag overrides the same key in the
file. docs/configuration.md lists both.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sglang_continuum.adapter.settings import DP_ROUTING, POLICIES, Settings, config_keys

# Flag destination -> config key, for the flags that take a value as they are.
_VALUE_FLAGS = {
    "continuum_max_ttl_s": "max_ttl_s",
    "continuum_fixed_ttl_s": "fixed_ttl_s",
    "continuum_lock_budget_fraction": "lock_budget_fraction",
    "continuum_per_program_max_fraction": "per_program_max_fraction",
    "continuum_per_tenant_fraction": "per_tenant_fraction",
    "continuum_status_interval_s": "status_interval_s",
    "continuum_dp_routing": "dp_routing",
}


def add_cli_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("sglang-continuum (TTL-locked KV cache for agents)")
    g.add_argument("--continuum-disable", action="store_true",
                   help="Serve exactly as stock SGLang (the overlay is not installed).")
    g.add_argument("--continuum-config", type=Path, metavar="FILE",
                   help="JSON object of settings, every key in docs/configuration.md "
                        "(the policy's research knobs are set only here); the flags "
                        "below override the same keys.")
    g.add_argument("--continuum-policy", choices=tuple(POLICIES),
                   help="hold (default): a paused program's KV stays locked until its next "
                        "turn, up to --continuum-max-ttl, and gives way to older programs "
                        "and to an idle engine; paper: the Continuum paper's cost-model "
                        "TTL; fixed: every lock lasts --continuum-fixed-ttl; off: no locks "
                        "(the queue is still ordered by program).")
    g.add_argument("--continuum-max-ttl", type=float, dest="continuum_max_ttl_s",
                   metavar="SECONDS", help="Upper bound on any lock's TTL, client hints "
                   "included (default 60).")
    g.add_argument("--continuum-fixed-ttl", type=float, dest="continuum_fixed_ttl_s",
                   metavar="SECONDS", help="TTL of policy fixed (default 2).")
    g.add_argument("--continuum-lock-budget", type=float, dest="continuum_lock_budget_fraction",
                   metavar="FRACTION", help="Share of KV capacity all locks together may "
                   "hold (default 1.0).")
    g.add_argument("--continuum-per-program-cap", type=float,
                   dest="continuum_per_program_max_fraction", metavar="FRACTION",
                   help="Share of KV capacity one program's lock may hold (default 0.5).")
    g.add_argument("--continuum-tenant-share", type=float, dest="continuum_per_tenant_fraction",
                   metavar="FRACTION", help="Share of KV capacity one tenant's locks may hold "
                   "(default 1.0: no limit beyond the lock budget).")
    g.add_argument("--continuum-infer-programs", choices=("on", "off"),
                   help="on (default): a request with no program id continues the program "
                        "whose finished turn its prompt extends (same tenant), or starts a "
                        "new one, so unmodified agents get locks; off: such requests are "
                        "served as SGLang serves them.")
    g.add_argument("--continuum-dp-routing", choices=DP_ROUTING,
                   help="With --dp-size N: sticky (default) sends every turn of a program "
                        "to the rank holding its KV and new programs to the least loaded "
                        "rank; sglang keeps SGLang's --load-balance-method.")
    g.add_argument("--continuum-status-interval", type=float, dest="continuum_status_interval_s",
                   metavar="SECONDS", help="Seconds between JSON status log lines (default "
                   "10; 0: never).")


def read_config(path: Path) -> dict:
    """The keys of a config file. ``prefill_profile`` may name the file the profiler
    wrote (relative to the config file): its fit, and its host reload fit as
    ``host_reload_profile`` unless the config gives one."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"--continuum-config {path}: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"--continuum-config {path}: expected a JSON object of settings; "
                         f"accepted keys: {', '.join(config_keys())}")
    profile = data.get("prefill_profile")
    if isinstance(profile, str):
        profile_path = Path(path).parent / profile
        try:
            measured = json.loads(profile_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"--continuum-config {path}: prefill_profile {profile}: "
                             f"{e}") from e
        data["prefill_profile"] = measured
        if "host_reload" in measured and data.get("host_reload_profile") is None:
            data["host_reload_profile"] = measured["host_reload"]
    return data


def settings_from_args(ns: argparse.Namespace) -> Settings:
    data: dict = {}
    if ns.continuum_config is not None:
        data.update(read_config(ns.continuum_config))
    if ns.continuum_policy is not None:
        data["policy"] = ns.continuum_policy
    for dest, key in _VALUE_FLAGS.items():
        value = getattr(ns, dest, None)
        if value is not None:
            data[key] = value
    if ns.continuum_infer_programs is not None:
        data["infer_programs"] = ns.continuum_infer_programs == "on"
    try:
        return Settings.from_mapping(data)
    except (TypeError, ValueError) as e:
        where = f" (--continuum-config {ns.continuum_config})" if ns.continuum_config else ""
        raise ValueError(f"{e}{where}") from e
