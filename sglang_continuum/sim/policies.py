"""The policies the simulator compares, all driving the same ContinuumPolicy core.

A :class:`SimPolicy` is a core configuration plus what the *engine* around the core
does: whether kept KV may be released under memory pressure, the waiting-queue order,
the prefix cache's eviction order (``eviction.py``) and an optional TTL hint. The
registry is a dict: add a factory, not an elif.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

from ..core import ContinuumPolicy, PolicyConfig, PrefillModel
from ..core.admission_gate import AdmissionGate, gate_limit, park_limit
from .eviction import LRU, SLRU, TLRU, EvictionOrder, ProgramAge, Sessions
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
    # sorts the waiting list in place given (now, cache, prefill tokens processed so
    # far); default: by queue_key
    sort_fn: Callable[[list[Request], float, "PrefixCache", int], None] | None = None
    gate: "AdmissionGate | LevelGate | None" = None   # holds new programs (admits())
    # An oracle, not a mechanism: every reload from the host tier is free (as if each
    # had been prefetched in the background before its turn, at no device cost): the
    # most demote-and-prefetch could buy (docs/design.md).
    free_reloads: bool = False
    # Demote-and-prefetch: a paused program's KV that left the device (a lock that
    # lapsed or gave way, or none set) is loaded back from the host tier ahead of its
    # predicted return (engine.py _prefetch): "evict" (making room in the cache's
    # order), "free" (into free device slots only), "" (off).
    prefetch: str = ""
    # An ended program's KV is given up at its end: "all" (device and host), "device"
    # (its host copy left to host eviction), "" (off) (PrefixCache.drop).
    drop_ended: str = ""
    # Queue-key variants measured and not kept (POLICIES "continuum_hw*", "_ow*"):
    # srpt's uncached tokens plus this share of the host-only hit, and plus this many
    # times the turn's remaining output tokens.
    host_weight: float = 0.0
    out_weight: float = 0.0

    def queue_key(self, req: Request, now: float, cache: "PrefixCache | None" = None
                  ) -> tuple:
        """The core's key; with `cache`, given the request's uncached prompt tokens as
        SGLang's matcher counts them (``matched``) for queue_order "srpt"."""
        uncached = None if cache is None else req.prompt - matched(cache, req)
        if uncached is not None and self.host_weight and cache.host_tier:
            p = req.program.index
            host_only = min(max(0, cache.host_len(p) - cache.cached(p)), req.prompt - 1)
            uncached += int(self.host_weight * host_only)
        if uncached is not None and self.out_weight:
            uncached += int(self.out_weight * req.remaining)
        return self.core.queue_key(req.program.queue_key, req.arrival, req.preempted, now,
                                   uncached)

    def order_queue(self, waiting: list[Request], now: float, cache: "PrefixCache",
                    prefilled: int = 0) -> None:
        if self.sort_fn is not None:
            self.sort_fn(waiting, now, cache, prefilled)
        elif self.core.config.queue_order == "srpt":
            waiting.sort(key=lambda r: self.queue_key(r, now, cache))
        else:
            waiting.sort(key=lambda r: self.queue_key(r, now))


@dataclass(frozen=True)
class PolicyContext:
    capacity_tokens: int
    prefill: PrefillModel           # seconds to rebuild n tokens (prefill, or host reload)
    wrap: Callable[[ContinuumPolicy], ContinuumPolicy] = lambda core: core
    host_tier: bool = False         # locks that lapse or give way demote (as the server)
    host_capacity_tokens: float = float("inf")  # the host tier's size (with host_tier)


# The queue order and pressure rule every policy here runs unless it names its own:
# program FCFS, locks giving way to older programs only (the server's default before
# queue_order "srpt" and pressure_scope "host"), so that stock arms keep request FCFS
# and the earlier defaults' tables stay reproducible. "continuum" takes the server's
# current defaults (_SERVER_ORDER).
_PROGRAM_FCFS = dict(queue_order="fcfs", pressure_scope="younger", host_locks="always")
_SERVER_ORDER = dict(queue_order=PolicyConfig.queue_order,
                     pressure_scope=PolicyConfig.pressure_scope,
                     host_locks=PolicyConfig.host_locks,
                     lock_running_ratio=PolicyConfig.lock_running_ratio)


def _core(ctx: PolicyContext, **cfg) -> ContinuumPolicy:
    return ctx.wrap(ContinuumPolicy(PolicyConfig(prefill_profile=ctx.prefill,
                                                 host_tier=ctx.host_tier,
                                                 **{**_PROGRAM_FCFS, **cfg}),
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


def matched(cache: "PrefixCache", req: Request) -> int:
    """SGLang's ``num_matched_prefix_tokens``: the prompt's prefix cached on the device
    or, with HiCache, on the host (host hits count as cached), at most prompt - 1."""
    p = req.program.index
    n = max(cache.cached(p), cache.host_len(p)) if cache.host_tier else cache.cached(p)
    return min(n, req.prompt - 1)


def _cache_aware(key: Callable[[Request, "PrefixCache", int], tuple], fcfs_past: bool):
    """A stock cache-aware ``--schedule-policy``: a stable sort by ``key`` over request
    FCFS; ``fcfs_past``: plain FCFS while more than LPM_MAX_QUEUE requests wait (SGLang
    does so for lpm and hrrn, not for shortest-prefill-first)."""
    def make(name: str, ctx: PolicyContext) -> SimPolicy:
        pol = _stock(lambda c: LRU())(name, ctx)

        def sort(waiting: list[Request], now: float, cache: "PrefixCache", prefilled: int):
            waiting.sort(key=lambda r: pol.queue_key(r, now))
            if not fcfs_past or len(waiting) <= LPM_MAX_QUEUE:
                waiting.sort(key=lambda r: key(r, cache, prefilled))
        pol.sort_fn = sort
        return pol
    return make


def lpm_key(req: Request, cache: "PrefixCache", prefilled: int) -> tuple:
    """``lpm``: longest matched prefix first."""
    return (-matched(cache, req),)


def hrrn_key(req: Request, cache: "PrefixCache", prefilled: int) -> tuple:
    """``hrrn``: highest response ratio first, aged in prefill tokens the engine
    processed since the request entered the queue, over its uncached tokens (SGLang
    breaks ties by request id, a random string; here by FCFS)."""
    uncached = req.prompt - matched(cache, req)
    return (-max(0, prefilled - req.queued_prefilled) / uncached,)


def spf_key(req: Request, cache: "PrefixCache", prefilled: int) -> tuple:
    """``shortest-prefill-first``: fewest uncached tokens first, then queue entry. (Its
    chunk cap that reserves budget for shorter waiting requests is not modelled.)"""
    return (max(1, req.prompt - matched(cache, req)), req.queued_at)


def _gate(with_host: bool):
    """The admission-gate comparison mode (``core/admission_gate.py``) over stock
    request FCFS: new programs wait while resident KV would not fit the device pool
    (``with_host``: the device pool plus the host tier)."""
    def make(name: str, ctx: PolicyContext) -> SimPolicy:
        pol = _stock(lambda c: LRU())(name, ctx)
        limit = ctx.capacity_tokens + (ctx.host_capacity_tokens
                                       if with_host and ctx.host_tier else 0)
        pol.gate = AdmissionGate(limit)
        return pol
    return make


_lpm = _cache_aware(lpm_key, fcfs_past=True)


@dataclass(frozen=True)
class LevelGate:
    """The server's admission gate of `mode` (adapter/gate.py): its limit
    (core/admission_gate.gate_limit) at the policy core's contention level now."""
    mode: str
    device_tokens: int
    tiers_tokens: float | None
    core: ContinuumPolicy

    def admits(self, resident_tokens: int, resident_programs: int, first_prompt: int) -> bool:
        limit = gate_limit(self.mode, self.device_tokens, self.tiers_tokens,
                           self.core.contention)
        return AdmissionGate(limit).admits(resident_tokens, resident_programs, first_prompt)

    def keeps(self, older_tokens: int, older_programs: int, own_tokens: int) -> bool:
        park = park_limit(self.mode, self.device_tokens, self.tiers_tokens,
                          self.core.contention)
        return AdmissionGate(park, park).keeps(older_tokens, older_programs, own_tokens)

    def paused_s(self) -> float:
        """How long a program paused between turns stays resident on an idle engine
        (adapter/gate.py: the core's paused_horizon_s)."""
        return self.core.paused_horizon_s()


def _with_gate(mode: str):
    """The default ("continuum") with the server's admission_gate `mode`."""
    def make(name: str, ctx: PolicyContext) -> SimPolicy:
        pol = POLICIES["continuum"](name, ctx)
        tiers = ctx.capacity_tokens + ctx.host_capacity_tokens if ctx.host_tier else None
        pol.gate = LevelGate(mode, ctx.capacity_tokens, tiers, pol.core)
        return pol
    return make


# Settings.drop_ended (on since session 21): the server gives up an ended program's
# device KV at its end, without a new host copy ("device"; tests/unit check they agree).
SERVER_DROP_ENDED = "device"


def _default_with(**cfg):
    """The server's defaults (``Settings``): the locks and queue order of
    ``_SERVER_ORDER``, admission_gate "device-only" (the device gate without a host
    tier; none with one) and drop_ended; `cfg`: PolicyConfig fields set otherwise."""
    def make(name: str, ctx: PolicyContext) -> SimPolicy:
        pol = _simple("hold", True, True, **{**_SERVER_ORDER, **cfg})(name, ctx)
        if not ctx.host_tier:
            pol.gate = LevelGate("device-only", ctx.capacity_tokens, None, pol.core)
        pol.drop_ended = SERVER_DROP_ENDED
        return pol
    return make


_server_default = _default_with()


def _overlay(order: Callable | None = None, fcfs_past: bool = True, admit: bool = False,
             **cfg):
    """The server's default locks with the queue left in a stock cache-aware order
    (``program_fcfs=false`` and SGLang's ``--schedule-policy``: the adapter then keeps
    SGLang's own sort) and/or a program admission gate sized to device plus host tier
    (device alone without one): new programs wait only where resident KV would thrash."""
    def make(name: str, ctx: PolicyContext) -> SimPolicy:
        pol = SimPolicy(name, _core(ctx, **{"mode": "hold", "program_fcfs": order is None,
                                            **cfg}), True)
        if order is not None:
            stock = _cache_aware(order, fcfs_past)(name, ctx)
            pol.sort_fn = stock.sort_fn
        if admit:
            pol.gate = AdmissionGate(ctx.capacity_tokens
                                     + (ctx.host_capacity_tokens if ctx.host_tier else 0))
        return pol
    return make


def _in_stock_order(key: Callable, fcfs_past: bool):
    """The server's default (``_server_default``) with the waiting queue in a stock
    cache-aware order instead of the core's."""
    def make(name: str, ctx: PolicyContext) -> SimPolicy:
        pol = _server_default(name, ctx)
        pol.sort_fn = _cache_aware(key, fcfs_past)(name, ctx).sort_fn
        return pol
    return make


STOCK = ("lru", "slru", "tlru", "radix_sessions", "lpm", "hrrn", "spf")
# The stock arms a regime point's best stock configuration is taken over.
BEST_STOCK = ("hrrn", "spf", "lpm", "radix_sessions")

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
    "hrrn": _cache_aware(hrrn_key, fcfs_past=True),
    "spf": _cache_aware(spf_key, fcfs_past=False),
    # Comparison mode, not stock and not the overlay: a ThunderAgent-style program
    # admission gate sized to the device pool, or to device plus host tier.
    "gate": _gate(with_host=False),
    "gate_host": _gate(with_host=True),
    # The server's defaults (PolicyConfig's): mode "hold" with memory free to hold
    # (locks last until the tool returns, bounded by max_ttl_s), queue order "srpt"
    # (preempted, overdue, locked, then fewest uncached prefill tokens), locks give way
    # to any waiting request with a host tier, else only to older programs' (or to an
    # idle engine); without a host tier, the device gate (admission_gate "device-only",
    # since session 18).
    "continuum": _server_default,
    # The default before session 21: ended programs' KV left to LRU eviction.
    "continuum_keep_ended": lambda name, ctx: replace(
        POLICIES["continuum"](name, ctx), drop_ended=""),
    # The default before session 18: the same without the admission gate.
    "continuum_ungated": _simple("hold", True, True, **_SERVER_ORDER),
    # The default before queue_order "srpt" and pressure_scope "host": program FCFS,
    # scope "younger".
    "continuum_fcfs": _simple("hold", True, True),
    # Candidates for a host tier: the default's locks, the queue in stock lpm / spf
    # order; program admission on top of the default.
    "continuum_lpm": _overlay(lpm_key),
    "continuum_spf": _overlay(spf_key, fcfs_past=False),
    "continuum_admit": _overlay(admit=True),
    "continuum_any_lpm": _overlay(lpm_key, pressure_scope="any"),
    "continuum_any_spf": _overlay(spf_key, fcfs_past=False, pressure_scope="any"),
    "continuum_any": _overlay(pressure_scope="any"),
    # Mechanism candidates: scope "any" while the host has room; plus admission.
    "continuum_host": _overlay(pressure_scope="host_room"),
    "continuum_host_admit": _overlay(pressure_scope="host_room", admit=True),
    # The default's locks with the core's SRPT order (queue_order "srpt"): preempted,
    # overdue, locked, then fewest uncached prefill tokens, then program first arrival.
    "continuum_srpt": _simple("hold", True, True, queue_order="srpt"),
    "continuum_srpt_any": _simple("hold", True, True, queue_order="srpt",
                                  pressure_scope="any"),
    "continuum_srpt_host": _overlay(pressure_scope="host_room", queue_order="srpt"),
    # The default, with no lock while the host pool could take the context ("room"),
    # or while unlocked turns' continuations hit ("learned"): core/host_rule.py.
    "continuum_nlr": _simple("hold", True, True, **{**_SERVER_ORDER, "host_locks": "room"}),
    "continuum_hl": _simple("hold", True, True,
                            **{**_SERVER_ORDER, "host_locks": "learned"}),
    # No lock while the live programs' contexts fit the host pool ("fits").
    "continuum_fits": _simple("hold", True, True, **{**_SERVER_ORDER, "host_locks": "fits"}),
    # Locks give way to anyone while they pin more than N times the running requests'
    # contexts (lock_running_ratio N).
    **{f"continuum_busy{n}": _simple("hold", True, True,
                                     **{**_SERVER_ORDER, "lock_running_ratio": float(n),
                                        "lock_running_host": "on"})
       for n in (1, 2, 4, 8)},
    # The default with the admission gate "auto" (new programs held while resident KV
    # would pass the larger of twice the device pool and both tiers), "device" (the
    # device pool), "tiers" (both tiers) and "thrash" ("auto", the device pool while
    # the pool thrashes without a host tier): adapter setting admission_gate.
    **{f"continuum_gate_{mode}": _with_gate(mode)
       for mode in ("auto", "device", "tiers", "thrash", "park")},
    # The bound on demote-and-prefetch: the default with every host reload free.
    "continuum_free_reloads": lambda name, ctx: replace(
        POLICIES["continuum"](name, ctx), free_reloads=True),
    # Candidates on the default before session 21 (session 21's regime-map table): the
    # cache evicting by program age (ended programs first, then the youngest), on the
    # device and in the host tier (eviction.ProgramAge); an ended program's KV given up
    # at its end, device and host ("all"; the default since gives up the device part).
    "continuum_age": lambda name, ctx: replace(
        POLICIES["continuum_keep_ended"](name, ctx), eviction=ProgramAge()),
    "continuum_drop_ended": lambda name, ctx: replace(
        POLICIES["continuum_keep_ended"](name, ctx), drop_ended="all"),
    "continuum_age_host": lambda name, ctx: replace(
        POLICIES["continuum_keep_ended"](name, ctx), eviction=ProgramAge(device=False)),
    "continuum_ended_host": lambda name, ctx: replace(
        POLICIES["continuum_keep_ended"](name, ctx),
        eviction=ProgramAge(device=False, by_age=False)),
    "continuum_ended": lambda name, ctx: replace(
        POLICIES["continuum_keep_ended"](name, ctx), eviction=ProgramAge(by_age=False)),
    # Demote-and-prefetch on the default.
    "continuum_prefetch": lambda name, ctx: replace(
        POLICIES["continuum"](name, ctx), prefetch="evict"),
    # The srpt key with host-only hits counted as this share of an uncached token
    # (hw), and with the turn's own output tokens added x w (ow: an oracle, the true
    # length): session 24, both lose (docs/design.md, "Queue-key variants").
    **{f"continuum_hw{w}": (lambda w: lambda name, ctx: replace(
        POLICIES["continuum"](name, ctx), host_weight=float(w)))(w)
       for w in ("0.07", "0.25", "1")},
    **{f"continuum_ow{w}": (lambda w: lambda name, ctx: replace(
        POLICIES["continuum"](name, ctx), out_weight=float(w)))(w)
       for w in ("1", "10", "100")},
    # Today's default with lock_running_ratio N: "run" with lock_running_host "on",
    # "room" with "room" (docs/design.md, "Locks that outweigh the running batch, on
    # today's default"); without a host tier the two are the same rule.
    **{f"continuum_run{n}": _default_with(lock_running_ratio=float(n), lock_running_host="on")
       for n in (1, 2, 3, 4)},
    **{f"continuum_room{n}": _default_with(lock_running_ratio=float(n),
                                           lock_running_host="room") for n in (1, 2, 4)},
    "continuum_prefetch_free": lambda name, ctx: replace(
        POLICIES["continuum"](name, ctx), prefetch="free"),
    # The default with the queue left in a stock --schedule-policy's order (the server
    # with {"program_fcfs": false, "queue_order": "fcfs"}: SGLang's own sort stands).
    **{f"continuum_order_{name}": _in_stock_order(key, past)
       for name, key, past in (("lpm", lpm_key, True), ("spf", spf_key, False),
                               ("hrrn", hrrn_key, True))},
    # The default with another queue age cap (a first turn's: four of them, as the
    # default's); 180 s: the default before session 23, 360 s: the default's.
    **{f"continuum_cap{c}": _default_with(queue_age_cap_s=float(c))
       for c in (90, 180, 360, 720)},
    "continuum_cap_inf": _default_with(queue_age_cap_s=float("inf")),
    # The default before first_turn_age_cap_s (2026-12-06): a program's first turn is
    # overdue after one age cap, as every request.
    "continuum_first_cap1": _simple("hold", True, True, **{
        **_SERVER_ORDER, "first_turn_age_cap_s": PolicyConfig.queue_age_cap_s}),
    # The default before host_locks "room": locks with a host tier as without one.
    "continuum_always": _simple("hold", True, True,
                                **{**_SERVER_ORDER, "host_locks": "always"}),
    "continuum_srpt_hs": _simple("hold", True, True, queue_order="srpt",
                                 pressure_scope="host"),
    **{f"continuum_srpt_hs_cap{c}": _simple("hold", True, True, queue_order="srpt",
                                            pressure_scope="host", queue_age_cap_s=float(c))
       for c in (30, 60)},
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
