"""The policies the simulator compares, all driving the same ContinuumPolicy core.

A :class:`SimPolicy` is a core configuration plus what the *engine* around the core
does: whether kept KV may be released under memory pressure, the waiting-queue order,
the prefix cache's eviction order (``eviction.py``) and an optional TTL hint. The
registry is a dict: add a factory, not an elif.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..core import ContinuumPolicy, PolicyConfig, PrefillModel
from .eviction import LRU, SLRU, TLRU, EvictionOrder, Sessions
from .request import Request

if TYPE_CHECKING:
    from .cache import PrefixCache

FOREVER_S = 1e9  # keep-until-close: finite for PolicyConfig, longer than any run


@dataclass
class SimPolicy:
    name: str
    core: ContinuumPolicy
    pressure_release: bool
    eviction: EvictionOrder = LRU()
    # sorts the waiting list in place; default: by queue_key
    sort_fn: Callable[[list[Request], float, "PrefixCache"], None] | None = None

    def queue_key(self, req: Request, now: float) -> tuple:
        return self.core.queue_key(req.program.queue_key, req.arrival, req.preempted, now)

    def order_queue(self, waiting: list[Request], now: float, cache: "PrefixCache") -> None:
        if self.sort_fn is not None:
            self.sort_fn(waiting, now, cache)
        else:
            waiting.sort(key=lambda r: self.queue_key(r, now))


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

# Stock SGLang's own alternatives (no locks, its FCFS queue unless said otherwise).
LPM_MAX_QUEUE = 128      # SGLang's WAITING_QUEUE_PREFIX_MATCH_MAX: FCFS beyond it
TLRU_TTFT_BUDGET_S = 1.0     # T-LRU's threshold: tokens the engine prefills in 1 s
TLRU_NEXT_PROMPT = 1024      # T-LRU's next_prompt_estimate (tokens a turn adds)


def _stock(eviction: Callable[[PolicyContext], EvictionOrder]):
    def make(name: str, ctx: PolicyContext) -> SimPolicy:
        core = _core(ctx, mode="off", program_fcfs=False)
        return SimPolicy(name, core, False, eviction=eviction(ctx))
    return make


def tokens_within(prefill: PrefillModel, seconds: float) -> int:
    """The most tokens ``prefill`` rebuilds within ``seconds`` (0 if none)."""
    lo, hi = 0, 1
    while prefill.seconds(hi) <= seconds and hi < 1 << 40:
        hi *= 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if prefill.seconds(mid) <= seconds else (lo, mid)
    return lo


def _lpm(name: str, ctx: PolicyContext) -> SimPolicy:
    """``--schedule-policy lpm``: longest cached prefix first (stable over FCFS), plain
    FCFS while more than LPM_MAX_QUEUE requests wait, as SGLang does."""
    pol = _stock(lambda c: LRU())(name, ctx)

    def sort(waiting: list[Request], now: float, cache: "PrefixCache") -> None:
        waiting.sort(key=lambda r: pol.queue_key(r, now))
        if len(waiting) <= LPM_MAX_QUEUE:
            waiting.sort(key=lambda r: -min(cache.cached(r.program.index), r.prompt - 1))
    pol.sort_fn = sort
    return pol


STOCK = ("lru", "slru", "tlru", "radix_sessions", "lpm")

# The bounds: a fixed TTL with the server's queue order and pressure scope and no caps
# (the best of them, in hindsight, per point), and keep-until-close.
FIXED_TTLS_S = (1, 2, 5, 10, 30, 60, 300)
_NO_CAPS = dict(lock_budget_fraction=1.0, per_program_max_fraction=1.0)
# The caps of the overlay's defaults before the hold rule: lock budget 0.5, per-program
# cap 0.25.
_OLD_CAPS = dict(lock_budget_fraction=0.5, per_program_max_fraction=0.25)

# Every policy the simulator offers: what a published table (experiments/sim, docs)
# needs to be regenerated, and no more.
POLICIES: dict[str, Callable[[str, PolicyContext], SimPolicy]] = {
    # Stock SGLang: FCFS (lru), its other eviction orders, and lpm.
    "lru": _simple("off", False, False),
    "slru": _stock(lambda ctx: SLRU()),
    "tlru": _stock(lambda ctx: TLRU(tokens_within(ctx.prefill, TLRU_TTFT_BUDGET_S),
                                    TLRU_NEXT_PROMPT)),
    "radix_sessions": _stock(lambda ctx: Sessions()),
    "lpm": _lpm,
    # The server's defaults (PolicyConfig's): mode "hold" with memory free to hold
    # (locks last until the tool returns, bounded by max_ttl_s), program FCFS, locks
    # give way only to programs older than their own unless the engine would idle.
    "continuum": _simple("hold", True, True),
    # Earlier defaults, as the seed and mixed-traffic tables compare them: memory priced
    # by the contention gauge (saturation 0.05), contended locks held for the tool's top
    # quantile or until the tool returns; the queue's age cap at 60 s, 120 s or none.
    "continuum_quantile": _simple("hold", True, True, contention_saturation=0.05,
                                  contended_ttl="quantile"),
    "continuum_priced": _simple("hold", True, True, contention_saturation=0.05),
    "continuum_no_age_cap": _simple("hold", True, True, queue_age_cap_s=float("inf")),
    "continuum_age_cap_120": _simple("hold", True, True, queue_age_cap_s=120.0),
    "continuum_age_cap_60": _simple("hold", True, True, queue_age_cap_s=60.0),
    # The paper's TTL rule under the overlay's scope "younger" and the old caps.
    "old_default": _simple("paper", True, True, **_OLD_CAPS),
    # The paper's system: its TTL rule and its pressure rule (any lock gives way).
    "paper": _simple("paper", True, True, pressure_scope="any", **_OLD_CAPS),
    **{f"fixed_{t}": _simple("fixed", True, True, fixed_ttl_s=float(t),
                             max_ttl_s=float(max(t, 60)), **_NO_CAPS)
       for t in FIXED_TTLS_S},
    "keep_until_close": _simple("fixed", False, False, fixed_ttl_s=FOREVER_S,
                                max_ttl_s=FOREVER_S, **_NO_CAPS),
}


def make_policy(name: str, ctx: PolicyContext) -> SimPolicy:
    try:
        factory = POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}: use one of {', '.join(POLICIES)}") from None
    return factory(name, ctx)
