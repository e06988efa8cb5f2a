"""Policy configuration, validated once at construction."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .estimates import PrefillModel
from .host_rule import HOST_LOCKS

MODES = ("hold", "paper", "fixed", "off")
PRESSURE_SCOPES = ("younger", "any", "host", "host_room")
# Requests without a program id beside agents (default "aged": experiments/live, cell
# trace/mixed, and docs/design.md). "fcfs": ranked by their own arrival among
# the programs' first arrivals (overtaken by every older program's turn that arrives
# within queue_age_cap_s). "aged": ranked as a program that began queue_age_cap_s before
# the request (ahead of younger programs' turns, behind older programs' earlier turns:
# about what FCFS gives it on a stock server). "ahead": before every agent turn that
# holds no lock. Under pressure a plain request takes the locks of programs younger
# than its rank ("ahead": any lock), youngest first.
PLAIN_REQUESTS = ("fcfs", "aged", "ahead")
# Mode "hold", what a lock holds once memory is contended (price 0): "max" until the
# tool returns, bounded by max_ttl_s (the default since 2026-12-03: it meets the best
# fixed TTL in hindsight at every point of the simulator's grid over three seeds,
# experiments/sim/results-seeds); "quantile" the tool's lock_quantile duration (the rule
# before). A program that does not announce its last turn (inferred) always takes the
# quantile: its last lock is a dead program's.
CONTENDED_TTLS = ("max", "quantile")
# The waiting queue's order below the preempted, overdue and lock tiers (queue_order.py).
# "fcfs": program FCFS (program_fcfs true) or request FCFS. "srpt": fewest uncached
# prefill tokens first (the cached prefix on the device or, with a host tier, on the
# host counts as cached), then by program_fcfs's rank: continuation turns go before
# new programs' first turns, as under stock shortest-prefill-first.
QUEUE_ORDERS = ("fcfs", "srpt")
# Where lock_running_ratio acts with a host tier: "off" (only without one), "room"
# (while the host pool's free slots could take any lock's context), "on".
LOCK_RUNNING_HOST = ("off", "room", "on")
# first_turn_age_cap_s None: this many queue age caps.
FIRST_TURN_CAP_FACTOR = 4.0


@dataclass(frozen=True)
class PolicyConfig:
    """Knobs of the Continuum policy. Invalid values raise ValueError naming the field."""

    # "hold": hold a paused program's context until its tool returns, up to max_ttl_s,
    # giving way under memory pressure (youngest program first, pressure_scope); with
    # contention_saturation > 0, the paper's cost model with memory priced by contention
    # (docs/design.md). "paper": the paper's rule as published; "fixed": fixed_ttl_s;
    # "off": no locks.
    mode: str = "hold"
    fixed_ttl_s: float = 2.0
    max_ttl_s: float = 60.0
    cold_start_samples: int = 100
    # K for a program that does not announce its last turn (an inferred one): its last
    # lock is a dead program's, held to its TTL, so its TTL comes from the recorded
    # durations from this many on, not from the Exp(cold_start_mean_s) prior (up to
    # 6.9 s). Live, 80 plain turns of ~0.4 s tool gaps stayed cold under K = 100
    # (docs/design.md, "Open-ended programs leave the prior sooner").
    open_cold_start_samples: int = 20
    cold_start_mean_s: float = 1.0
    duration_window: int = 10_000  # the global window (every tool's durations)
    # Each tool's own window, and how many tools keep one: tool names come from clients,
    # so these bound the statistics' memory at 16 B x (duration_window + max_tools x
    # tool_window), 2.3 MB by default. 2,048 samples still resolve a p99.9.
    tool_window: int = 2048
    # Each tenant's own duration windows (ToolStats): one tenant's traffic then sets
    # only its own TTLs once it has more than cold_start_samples of a tool. Windows of
    # tenant_window samples, for its last tenant_tools tools (one: all its durations),
    # for the last max_tool_tenants tenants: 16 B x 32 x 8 x 512, 2.1 MB more.
    tenant_window: int = 512
    tenant_tools: int = 8
    max_tool_tenants: int = 32
    queue_delay_window: int = 256
    program_fcfs: bool = True
    # "srpt" (the default since 2026-12-06; "fcfs" before): the regime map,
    # experiments/sim/regime, and docs/design.md.
    queue_order: str = "srpt"
    # Program FCFS ranks a turn by its program's first arrival, but never more than this
    # before the turn's own arrival: plain requests (and young programs) are overtaken
    # only by turns that arrive within it; a request that waited longer goes first.
    # 360 s since session 23: on today's default it meets both mixed-traffic targets at
    # 8 of 8 simulated points (180 s: 7) and the regime map's targets at 90 of 124 (8B)
    # and 93 of 132 (70B) points (180 s: 88, 91; worst 70B point 1.10x against 1.21x);
    # 720 s meets 92 and 95 with a worse worst 8B point (docs/design.md, "The age cap on
    # today's default"). inf: pure program FCFS.
    queue_age_cap_s: float = 360.0
    # A program's first turn is its program's admission: it becomes overdue only after
    # this long (None: 4 x queue_age_cap_s), so turns of programs under way go before
    # it for longer, as under a program admission gate. Simulator regime map, reduced
    # grid: 75 of 124 points met (69 with the age cap for first turns too), worst mean
    # 1.12x the best stock arm (1.21x); 2 x the cap: 71 (docs/design.md, "New programs
    # wait longer").
    first_turn_age_cap_s: float | None = None
    # Locks give way to older programs and to an idle engine (pressure_scope), so a
    # budget below the whole pool only lets younger programs thrash: 0.5 cost 1.26x
    # mean JCT on the shared trace (experiments/sim). One program may lock half.
    lock_budget_fraction: float = 1.0
    per_program_max_fraction: float = 0.5
    per_tenant_fraction: float = 1.0
    # Unprofiled default: ~10k tokens/s. Replace with PrefillModel.fit on the target GPU.
    prefill_profile: PrefillModel = field(default_factory=lambda: PrefillModel(0.0, 1e-4, 0.0))
    max_programs: int = 100_000
    max_tools: int = 64
    # Which locks give way when the head of the queue does not fit. "younger": only
    # locks of programs that arrived after the head's program, unless the engine would
    # otherwise idle. "any": the youngest program's lock, whoever the head is (the paper).
    # "host": "any" with a host tier (a lock that gives way is demoted, and the next turn
    # pays a reload, not a rebuild), "younger" without one. "host_room": "any" while the
    # host pool's free slots could take every lock's context (a lock that gives way is
    # demoted without pushing another program's host copy out), else "younger". The
    # default is "younger": live, "host" cost 1.3x (host pool 1x the device pool) and
    # 1.8x (0.5x) the mean JCT of "younger", whose demoted locks the small host pool
    # dropped (docs/design.md).
    pressure_scope: str = "younger"
    # Locks give way to any waiting request, as to an idle engine, while the tokens they
    # pin exceed this many times the running requests' contexts (0: never). Below the
    # knee with long programs, locks held through long tools keep younger programs
    # waiting while the engine has compute to spare (docs/design.md, "Below the knee").
    lock_running_ratio: float = 0.0
    # With a host tier a lock that gives way is demoted and its turn pays a reload: the
    # ratio there is "off" (the default), "room" (only while the host pool's free slots
    # could take any lock's context) or "on" (LOCK_RUNNING_HOST).
    lock_running_host: str = "off"
    # With a host tier, whether a finished turn locks at all (core/host_rule.py):
    # "always"; "room": not while the host pool's free slots could take its context;
    # "learned": not while turns that came back without a lock found their context
    # (host hits count) at least host_hit_share of the time, over host_hit_window of
    # them; it starts locking, and every host_probe_every-th turn is left unlocked to
    # keep learning. Unlocked: (0, "host_tier"). A client's TTL hint still locks.
    # Default "fits" since 2026-12-06 ("room" for part of that day, "always" before):
    # live, one campaign (experiments/live/host-fits2), host pool 2x: 0.96x stock HiCache
    # + lpm's mean JCT, p95 0.94x ("room": 1.06x, 1.04x); host pool 1x: 0.87x the best
    # stock arm ("room": 0.92x); simulator regime map: docs/design.md.
    host_locks: str = "fits"
    host_fit_share: float = 0.9
    host_hit_share: float = 0.9
    host_hit_window: int = 32
    host_probe_every: int = 8
    # Requests without a program id: see PLAIN_REQUESTS.
    plain_requests: str = "aged"
    # Mode "hold": the longest TTL it chooses is this quantile of the tool's
    # durations; the contention gauge averages over `contention_window` resumed turns
    # and memory is free to hold once that share met pressure `contention_saturation`.
    lock_quantile: float = 0.999
    contention_window: int = 8
    # 0 (the default since 2026-12-03): memory is free to hold. Under scope "younger" a
    # lock only keeps memory from programs that program FCFS serves after its owner, and
    # gives way to an idle engine, so the shadow price of what it holds is 0 at any
    # contention; the simulator agrees (experiments/sim/results-seeds: pricing by the
    # gauge, 0.05 before, left the p95 above the best fixed TTL at 1-5 of 36 points).
    contention_saturation: float = 0.0
    contended_ttl: str = "max"
    # A host tier under the device pool (SGLang's HiCache): a lock that lapses or gives
    # way moves its KV to host memory, and what a lapse costs to rebuild is the reload
    # (host_reload_profile, measured by `python -m sglang_continuum.profile
    # --host-reload`) instead of a prefill; the queueing a lapse causes is priced as ever.
    host_tier: bool = False
    host_reload_profile: PrefillModel | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"PolicyConfig.mode: expected one of {MODES}, got {self.mode!r}")
        if self.plain_requests not in PLAIN_REQUESTS:
            raise ValueError(f"PolicyConfig.plain_requests: expected one of {PLAIN_REQUESTS}, "
                             f"got {self.plain_requests!r}")
        if self.contended_ttl not in CONTENDED_TTLS:
            raise ValueError(f"PolicyConfig.contended_ttl: expected one of {CONTENDED_TTLS}, "
                             f"got {self.contended_ttl!r}")
        if self.queue_order not in QUEUE_ORDERS:
            raise ValueError(f"PolicyConfig.queue_order: expected one of {QUEUE_ORDERS}, "
                             f"got {self.queue_order!r}")
        if self.pressure_scope not in PRESSURE_SCOPES:
            raise ValueError(f"PolicyConfig.pressure_scope: expected one of {PRESSURE_SCOPES}, "
                             f"got {self.pressure_scope!r}")
        _number(self, "fixed_ttl_s", low=0.0)
        _number(self, "max_ttl_s", low=0.0)
        if self.queue_age_cap_s != math.inf:
            _number(self, "queue_age_cap_s", low=0.0)
        v = self.first_turn_age_cap_s
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                              or not v >= 0):
            raise ValueError("PolicyConfig.first_turn_age_cap_s: expected a number of "
                             f"seconds >= 0, Infinity, or null (4 x queue_age_cap_s), got {v!r}")
        _number(self, "cold_start_mean_s", low=0.0, strict=True)
        _integer(self, "cold_start_samples", low=0)
        _integer(self, "open_cold_start_samples", low=0)
        _integer(self, "duration_window", low=1)
        _integer(self, "tool_window", low=1)
        _integer(self, "tenant_window", low=1)
        _integer(self, "tenant_tools", low=1)
        _integer(self, "max_tool_tenants", low=1)
        _integer(self, "queue_delay_window", low=1)
        _integer(self, "max_programs", low=1)
        _integer(self, "max_tools", low=1)
        _integer(self, "contention_window", low=1)
        _number(self, "lock_quantile", low=0.0, high=1.0, strict=True)
        if self.lock_quantile >= 1.0:
            raise ValueError(f"PolicyConfig.lock_quantile: expected a number in (0, 1), "
                             f"got {self.lock_quantile!r}")
        _number(self, "contention_saturation", low=0.0, high=1.0)
        for name in ("lock_budget_fraction", "per_program_max_fraction", "per_tenant_fraction"):
            _number(self, name, low=0.0, high=1.0)
        if not isinstance(self.host_tier, bool):
            raise ValueError(
                f"PolicyConfig.host_tier: expected true or false, got {self.host_tier!r}")
        if self.host_locks not in HOST_LOCKS:
            raise ValueError(f"PolicyConfig.host_locks: expected one of {HOST_LOCKS}, "
                             f"got {self.host_locks!r}")
        _number(self, "host_hit_share", low=0.0, high=1.0)
        _number(self, "host_fit_share", low=0.0, high=10.0)
        _number(self, "lock_running_ratio", low=0.0)
        _integer(self, "host_hit_window", 1)
        _integer(self, "host_probe_every", 1)
        if self.lock_running_host not in LOCK_RUNNING_HOST:
            raise ValueError(f"PolicyConfig.lock_running_host: expected one of "
                             f"{LOCK_RUNNING_HOST}, got {self.lock_running_host!r}")
        if not isinstance(self.program_fcfs, bool):
            raise ValueError(
                f"PolicyConfig.program_fcfs: expected true or false, got {self.program_fcfs!r}"
            )
        if self.host_reload_profile is not None and \
                not isinstance(self.host_reload_profile, PrefillModel):
            raise ValueError("PolicyConfig.host_reload_profile: expected a PrefillModel or "
                             f"None, got {type(self.host_reload_profile).__name__}")
        if not isinstance(self.prefill_profile, PrefillModel):
            raise ValueError(
                "PolicyConfig.prefill_profile: expected a PrefillModel, "
                f"got {type(self.prefill_profile).__name__}"
            )

    @property
    def first_turn_cap_s(self) -> float:
        """How long a program's first turn waits before it is overdue."""
        if self.first_turn_age_cap_s is None:
            return FIRST_TURN_CAP_FACTOR * self.queue_age_cap_s
        return self.first_turn_age_cap_s


def rebuild_profile(cfg: PolicyConfig) -> PrefillModel:
    """Seconds to rebuild a lapsed lock's KV: a reload from host memory with a host tier
    whose reload was measured, else a prefill."""
    if cfg.host_tier and cfg.host_reload_profile is not None:
        return cfg.host_reload_profile
    return cfg.prefill_profile


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
