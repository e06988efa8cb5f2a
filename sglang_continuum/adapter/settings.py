"""What a server runs with, and its hand-off to SGLang's processes.

The launcher (``server/flags.py``) turns the ``--continuum-*`` flags and the
``--continuum-config FILE`` keys into :class:`Settings` and passes them to every SGLang
process in one JSON environment variable (``SGLANG_CONTINUUM_SETTINGS``) that the plugin
reads when the cache is built. Nothing reads it at import time.

This module only validates keys and maps names: the policy's knobs, their defaults and
their checks are the core's :class:`~sglang_continuum.core.PolicyConfig`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields

from sglang_continuum.core import PolicyConfig, PrefillModel

ENV_VAR = "SGLANG_CONTINUUM_SETTINGS"
# Set only by a testbed run (experiments/live): host-tier reloads paced to this many
# bytes per second (launcher/testbed_link.py). The plugin installs the pacing only when
# it is set, so a production server never imports that code.
TESTBED_HOST_LINK_ENV = "SGLANG_CONTINUUM_TESTBED_HOST_BYTES_PER_S"
BACKEND_NAME = "continuum"
# The core's name of the default mode. The public name is "hold": a program's lock lasts
# up to max_ttl_s and gives way to older programs and to an idle engine.
HOLD_MODE = "hold"
# Public policy name -> PolicyConfig.mode.
POLICIES = {"hold": HOLD_MODE, "paper": "paper", "fixed": "fixed", "off": "off"}
_POLICY_NAMES = {mode: name for name, mode in POLICIES.items()}
DP_ROUTING = ("sticky", "sglang")
FIRST_TURNS = ("learned", "plain")
# The program admission gate (core/admission_gate.py): "off", or new programs held
# while the resident programs' KV would not fit the device pool ("device"), what the
# device and host tiers hold together ("tiers"), the larger of twice the device pool
# and both tiers ("auto"), "auto" turning to the device pool while the pool thrashes
# without a host tier ("thrash"), "thrash" that then also parks the youngest resident
# programs' later turns ("park"), or the default "device-only": "device" where the
# device pool is the only tier, off with a host tier.
ADMISSION_GATES = ("off", "device", "tiers", "auto", "thrash", "park", "device-only")
# Keys of the profiler's file that are notes, not coefficients.
_PROFILE_NOTES = ("source", "max_tokens", "samples", "host_reload")
# PolicyConfig fields that are not settings: "mode" is spelled "policy", and the cache
# factory derives "host_tier" from SGLang's --enable-hierarchical-cache.
_NOT_KEYS = {
    "mode": "spell it 'policy'",
    "host_tier": "not a setting: the overlay turns it on when SGLang runs with "
                 "--enable-hierarchical-cache",
}
_SERVER_KEYS = ("status_interval_s", "infer_programs", "dp_routing", "first_turns",
                "admission_gate", "drop_ended")


def config_keys() -> tuple[str, ...]:
    """Every key a config file (and the environment hand-off) accepts."""
    policy_keys = [f.name for f in fields(PolicyConfig) if f.name not in _NOT_KEYS]
    return ("policy", *policy_keys, *_SERVER_KEYS)


@dataclass(frozen=True)
class Settings:
    """The policy core's config, plus the server's own knobs: how often the adapter logs
    its status line, program inference, the first-turn rule and DP routing."""

    policy: PolicyConfig = field(default_factory=PolicyConfig)
    status_interval_s: float = 10.0
    # Requests with no program id get one inferred from their prompt (core/inference.py).
    infer_programs: bool = True
    # With --dp-size N: "sticky" routes a program's turns to the rank holding its KV
    # (adapter/dp_routing.py); "sglang" keeps SGLang's --load-balance-method.
    dp_routing: str = "sticky"
    # Inferred first turns (a request that continues nothing): "learned" locks and ranks
    # them by the learned share that is continued (core/inference.py FirstTurns); "plain"
    # serves them as requests without a program until a later prompt continues them.
    first_turns: str = "learned"
    # Program admission (ADMISSION_GATES): by default the device gate without a host
    # tier (docs/design.md, "The device gate becomes the default without a host tier").
    admission_gate: str = "device-only"
    # When a turn its client marked last_turn finishes, the device KV only its program's
    # context used is given up at once (adapter/cache.py drop_ended) instead of waiting
    # for LRU eviction (docs/design.md, "Ended programs first").
    drop_ended: bool = True

    def __post_init__(self):
        if not isinstance(self.policy, PolicyConfig):
            raise ValueError(f"Settings.policy: expected a PolicyConfig, got {self.policy!r}")
        v = self.status_interval_s
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or v < 0:
            raise ValueError(f"continuum setting 'status_interval_s'={v!r}: must be a "
                             "finite number of seconds >= 0")
        if not isinstance(self.drop_ended, bool):
            raise ValueError(f"continuum setting 'drop_ended'={self.drop_ended!r}: "
                             "must be true or false")
        if not isinstance(self.infer_programs, bool):
            raise ValueError(f"continuum setting 'infer_programs'={self.infer_programs!r}: "
                             "must be true or false")
        if self.first_turns not in FIRST_TURNS:
            raise ValueError(f"continuum setting 'first_turns'={self.first_turns!r}: accepted "
                             f"values are {', '.join(FIRST_TURNS)}")
        if self.admission_gate not in ADMISSION_GATES:
            raise ValueError(f"continuum setting 'admission_gate'={self.admission_gate!r}: "
                             f"accepted values are {', '.join(ADMISSION_GATES)}")
        if self.dp_routing not in DP_ROUTING:
            raise ValueError(f"continuum setting 'dp_routing'={self.dp_routing!r}: accepted "
                             f"values are {', '.join(DP_ROUTING)}")

    def to_mapping(self) -> dict:
        """The flat form of a config file (every key of :func:`config_keys`)."""
        out = {f.name: getattr(self.policy, f.name) for f in fields(PolicyConfig)
               if f.name not in _NOT_KEYS}
        out["policy"] = _POLICY_NAMES[self.policy.mode]
        out["prefill_profile"] = self.policy.prefill_profile.to_dict()
        reload = self.policy.host_reload_profile
        out["host_reload_profile"] = None if reload is None else reload.to_dict()
        for name in _SERVER_KEYS:
            out[name] = getattr(self, name)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_mapping(), sort_keys=True)

    @classmethod
    def from_mapping(cls, data: dict) -> "Settings":
        """Settings from config keys; an unknown key or value raises naming the accepted
        ones."""
        known = config_keys()
        for key in data:
            if key in _NOT_KEYS:
                raise ValueError(f"continuum setting {key!r}: {_NOT_KEYS[key]}")
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"unknown continuum setting(s) {sorted(unknown)}; accepted: "
                             f"{', '.join(known)}")
        cfg = dict(data)
        server = {name: cfg.pop(name) for name in _SERVER_KEYS if name in cfg}
        if "policy" in cfg:
            name = cfg.pop("policy")
            if name not in POLICIES:
                raise ValueError(f"continuum setting 'policy'={name!r}: accepted values are "
                                 f"{', '.join(POLICIES)}")
            cfg["mode"] = POLICIES[name]
        if "prefill_profile" in cfg:
            cfg["prefill_profile"] = profile_from(cfg["prefill_profile"], "prefill_profile")
        if cfg.get("host_reload_profile") is not None:
            cfg["host_reload_profile"] = profile_from(cfg["host_reload_profile"],
                                                      "host_reload_profile")
        return cls(PolicyConfig(**cfg), **server)

    @classmethod
    def from_env(cls, environ=os.environ) -> "Settings | None":
        raw = environ.get(ENV_VAR)
        return None if raw is None else cls.from_mapping(json.loads(raw))


def profile_from(profile, name: str) -> PrefillModel:
    """A fit ``{"a", "b", "c"}`` (the profiler's notes ignored) as a PrefillModel."""
    if not isinstance(profile, dict):
        raise ValueError(f"continuum setting '{name}'={profile!r}: must be a "
                         "mapping with keys a, b, c (seconds = a + b*n + c*n^2)")
    return PrefillModel.from_dict({k: v for k, v in profile.items()
                                   if k not in _PROFILE_NOTES})
