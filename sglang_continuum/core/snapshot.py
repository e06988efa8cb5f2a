"""One metrics type that the server, the simulator and the replay reports all emit."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, fields
from typing import Mapping

TAU_BUCKETS: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
                                  math.inf)
"""Upper bounds (inclusive) of the TTL histogram buckets; bucket 0 counts tau == 0."""


class TauHistogram:
    def __init__(self) -> None:
        self._counts = [0] * len(TAU_BUCKETS)

    def add(self, tau: float) -> None:
        self._counts[bisect.bisect_left(TAU_BUCKETS, tau)] += 1

    def counts(self) -> tuple[int, ...]:
        return tuple(self._counts)


@dataclass(frozen=True)
class PolicySnapshot:
    """Counters and estimates of a ContinuumPolicy at one moment.

    tau_counts[i] counts the TTLs the policy chose (before bounds; last turns and mode
    "off" excluded) in (TAU_BUCKETS[i-1], TAU_BUCKETS[i]].
    tools maps a tool to (samples held, p50 seconds, p90 seconds).
    """

    mode: str
    capacity_tokens: int
    locked_tokens: int
    active_locks: int
    programs: int
    programs_ended: int  # last turns finished
    locks_set: int
    locks_consumed: int
    locks_lapsed: int
    locks_released_pressure: int
    locks_dropped: int
    locks_refused: int
    refused_by_reason: Mapping[str, int]
    tau_buckets: tuple[float, ...]
    tau_counts: tuple[int, ...]
    tools: Mapping[str, tuple[int, float, float]]
    duration_samples: int
    queue_delay_s: float
    eta: float
    contention: float = 0.0  # share of recent resumed turns that met memory pressure
    memory_price: float = 1.0  # mode "hold": price of holding memory (1 = paper's)
    # KV held by locks whose tool has run past its learned p99 (0 when taken without now)
    overdue_locked_tokens: int = 0
    # Program inference (the adapter's IdentityTable; 0 where it is off or absent).
    programs_inferred: int = 0  # requests with no id that started a new program
    turns_inferred: int = 0  # requests with no id found to continue a finished turn
    first_turn_share: float = 0.0  # learned share of those first turns that were continued
    # Host tier (core/lock_table.py HostHolds): locks whose KV was demoted to host memory when
    # they lapsed or gave way, and the demoted KV held there inside its TTL.
    locks_demoted: int = 0
    host_holds: int = 0
    host_held_tokens: int = 0
    # host_locks "fits" (core/host_rule.py): the live programs' contexts (0 when taken
    # without now, or where the rule is off), what the tiers hold together (0: no host
    # tier or unknown), and the finished turns left unlocked because the tiers hold them.
    live_context_tokens: float = 0.0
    host_capacity_tokens: float = 0.0
    turns_unlocked_host: int = 0
    # The admission gate (0 where it is off): first turns passed over
    # at the last admission pass and in all, and the resident programs' KV it counts.
    gate_held: int = 0
    gate_held_total: int = 0
    gate_resident_tokens: int = 0
    # drop_ended: device KV tokens given up at programs' ends (adapter/cache.py).
    ended_dropped_tokens: int = 0

    def to_dict(self) -> dict:
        """Plain JSON-friendly dict (inf bucket bound written as the string "inf")."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["tau_buckets"] = [b if math.isfinite(b) else "inf" for b in self.tau_buckets]
        out["tau_counts"] = list(self.tau_counts)
        out["refused_by_reason"] = dict(self.refused_by_reason)
        out["tools"] = {k: list(v) for k, v in self.tools.items()}
        return out
