"""The policies the simulator compares, all driving the same ContinuumPolicy core.

A :class:`SimPolicy` is a core configuration plus what the *engine* around the core
does: whether kept KV may be released under memory pressure, the waiting-queue key,
and an optional TTL hint. The registry is a dict: add a factory, not an elif.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..core import ContinuumPolicy, PolicyConfig, PrefillModel
from .request import Request

FOREVER_S = 1e9  # keep-until-close: finite for PolicyConfig, longer than any run


@dataclass
class SimPolicy:
    name: str
    core: ContinuumPolicy
    pressure_release: bool
    key_fn: Callable[[Request, float], tuple] | None = None
    hint_fn: Callable[[Request, float], float | None] | None = None

    def queue_key(self, req: Request, now: float) -> tuple:
        if self.key_fn is not None:
            return self.key_fn(req, now)
        return self.core.queue_key(req.program.key, req.arrival, req.preempted)

    def ttl_hint(self, req: Request, now: float) -> float | None:
        return self.hint_fn(req, now) if self.hint_fn is not None else None


@dataclass(frozen=True)
class PolicyContext:
    capacity_tokens: int
    prefill: PrefillModel           # seconds to rebuild n tokens (prefill, or host reload)
    wrap: Callable[[ContinuumPolicy], ContinuumPolicy] = lambda core: core
    host_tier: bool = False         # locks that lapse or give way demote (as the server)


def _core(ctx: PolicyContext, **cfg) -> ContinuumPolicy:
    return ctx.wrap(ContinuumPolicy(PolicyConfig(prefill_profile=ctx.prefill,
                                                 host_tier=ctx.host_tier, **cfg),
                                    ctx.capacity_tokens))


def _simple(mode: str, fcfs: bool, pressure: bool, **cfg):
    def make(name: str, ctx: PolicyContext) -> SimPolicy:
        return SimPolicy(name, _core(ctx, mode=mode, program_fcfs=fcfs, **cfg), pressure)
    return make


def _autellix(name: str, ctx: PolicyContext) -> SimPolicy:
    """Autellix-style PLAS: least attained service (tokens served) of the program first;
    stock LRU cache (no locks)."""
    def key(req: Request, now: float) -> tuple:
        return (0 if req.preempted else 1, req.program.attained, req.arrival)
    return SimPolicy(name, _core(ctx, mode="off", program_fcfs=False), False, key)


# The bounds: a fixed TTL with the server's queue order and pressure scope and no caps
# (the best of them, in hindsight, per point), and keep-until-close.
FIXED_TTLS_S = (1, 2, 5, 10, 30, 60, 300)
_NO_CAPS = dict(lock_budget_fraction=1.0, per_program_max_fraction=1.0)
# Today's PolicyConfig defaults before the pressure rule (issue 14): the paper's TTL
# rule under the overlay's scope "younger", lock budget 0.5, per-program cap 0.25.
_OLD_CAPS = dict(lock_budget_fraction=0.5, per_program_max_fraction=0.25)

POLICIES: dict[str, Callable[[str, PolicyContext], SimPolicy]] = {
    "lru": _simple("off", False, False),
    # The server's defaults (PolicyConfig's): the pressure-priced TTL, program FCFS,
    # locks give way only to programs older than their own unless the engine would idle.
    "continuum": _simple("pressure", True, True),
    "old_default": _simple("paper", True, True, **_OLD_CAPS),
    # The paper's system: its TTL rule and its pressure rule (any lock gives way).
    "paper": _simple("paper", True, True, pressure_scope="any", **_OLD_CAPS),
    **{f"fixed_{t}": _simple("fixed", True, True, fixed_ttl_s=float(t),
                             max_ttl_s=float(max(t, 60)), **_NO_CAPS)
       for t in FIXED_TTLS_S},
    "keep_until_close": _simple("fixed", False, False, fixed_ttl_s=FOREVER_S,
                                max_ttl_s=FOREVER_S, **_NO_CAPS),
    "fixed_ttl": _simple("fixed", True, True, fixed_ttl_s=2.0, pressure_scope="any"),
    "program_fcfs": _simple("off", True, True),
    "ttl_only": _simple("paper", False, True, **_OLD_CAPS),
    "autellix": _autellix,
}
# Earlier names, still accepted: "continuum_any" is the paper's system.
ALIASES = {"continuum_any": "paper"}


def make_policy(name: str, ctx: PolicyContext) -> SimPolicy:
    try:
        factory = POLICIES[ALIASES.get(name, name)]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}: use one of {', '.join(POLICIES)}") from None
    return factory(name, ctx)
