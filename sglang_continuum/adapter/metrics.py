"""Prometheus export of the policy snapshot on SGLang's ``/metrics``.

SGLang serves ``/metrics`` from the HTTP process with prometheus_client's multiprocess
collector; metrics created here, in the scheduler process, land in the same
multiprocess directory. They are not added to the default registry (no global state).

Every series carries the labels SGLang's own ``sglang:*`` metrics carry for the
scheduler that exports it (``model_name``, ``tp_rank``, ``pp_rank`` and, with
``--dp-size N``, ``dp_rank``): each DP rank's scheduler exports its own gauges, which
stay apart instead of one rank's value hiding the others'.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional

from prometheus_client import Counter, Gauge, Histogram

from sglang_continuum.core import TAU_BUCKETS

MAX_TOOL_LABELS = 32  # bounds label cardinality: tool names come from clients
# The label of every tool outside the top MAX_TOOL_LABELS: parentheses are not allowed
# in a tool name (core.inference.TOOL_NAME), so no tool can collide with it.
OTHER_TOOLS = "(other)"
_PREFIX = "sglang_continuum_"
# Decisions that choose no TTL at all: the TTL histogram leaves them out.
_NO_TTL_CHOSEN = ("last_turn", "off", "unproven", "host_tier")


def scheduler_labels(model_name: str, tp_rank: int, pp_rank: int = 0,
                     dp_rank: Optional[int] = None) -> dict[str, str]:
    """The labels SGLang puts on a scheduler's metrics (dp_rank only with DP)."""
    labels = {"model_name": str(model_name), "tp_rank": str(tp_rank), "pp_rank": str(pp_rank)}
    if dp_rank is not None:
        labels["dp_rank"] = str(dp_rank)
    return labels


class PrometheusExporter:
    def __init__(self, labels: Optional[Mapping[str, str]] = None,
                 max_tools: int = MAX_TOOL_LABELS):
        if max_tools < 1:
            raise ValueError(f"max_tools={max_tools!r}: expected at least 1")
        self.labels = dict(labels or {})
        self.max_tools = max_tools
        base = tuple(self.labels)

        def child(metric):
            return metric.labels(**self.labels) if base else metric

        def g(name, doc):
            return child(Gauge(_PREFIX + name, doc, base, registry=None,
                               multiprocess_mode="mostrecent"))

        def c(name, doc):
            return child(Counter(_PREFIX + name, doc, base, registry=None))

        self.locked_tokens = g("locked_tokens", "KV tokens held by TTL locks")
        self.active_locks = g("active_locks", "Programs holding a TTL lock")
        self.programs = g("programs", "Programs tracked by the policy")
        self.queue_delay = g("queue_delay_seconds", "T: mean queueing delay of evicted turns")
        self.eta = g("eta", "eta: predictability of remaining turns")
        self.contention = g("contention", "Share of recent resumed turns that met memory "
                            "pressure")
        self.overdue_locked_tokens = g("overdue_locked_tokens", "KV tokens held by locks "
                                       "whose tool has run past its learned p99")
        self.memory_price = g("memory_price", "Price of holding KV in the pressure policy "
                              "(1 = the paper's, 0 = free)")
        self.host_holds = g("host_holds", "Programs whose demoted KV is held in host "
                            "memory inside their TTL")
        self.host_held_tokens = g("host_held_tokens", "KV tokens held in host memory for "
                                  "programs inside their TTL")
        self.live_context_tokens = g("live_context_tokens", "host_locks fits: the live "
                                     "programs' latest contexts, summed")
        self.host_capacity_tokens = g("host_capacity_tokens", "host_locks fits: the tokens "
                                      "the device and host tiers hold together")
        self.gate_held = g("gate_waiting_programs", "admission_gate: new programs' "
                           "first turns (and in mode park residents' turns) passed over at the last "
                           "admission pass")
        self.gate_resident_tokens = g("gate_resident_tokens", "admission_gate: the KV "
                                      "tokens of the resident programs it counts")
        self.first_turn_share = g("first_turn_continued_share", "Learned share of requests "
                                  "with no program id that a later prompt continued (agents' "
                                  "first turns)")
        self.tool_seconds = Gauge(
            _PREFIX + "tool_duration_seconds", "Learned tool duration quantiles (top tools "
            "by samples; NaN once a tool left the top)", (*base, "tool", "quantile"),
            registry=None, multiprocess_mode="mostrecent")
        self.tool_samples = Gauge(
            _PREFIX + "tool_duration_samples", f"Recorded tool durations (top tools by "
            f"samples, the rest as tool=\"{OTHER_TOOLS}\")", (*base, "tool"), registry=None,
            multiprocess_mode="mostrecent")
        # Snapshot field -> counter of the same name: the snapshot carries totals, the
        # exporter adds what is new since the last update.
        self.counters = {
            **{f"locks_{name}": c(f"locks_{name}", f"TTL locks {name.replace('_', ' ')}")
               for name in ("set", "consumed", "lapsed", "released_pressure", "refused",
                            "dropped", "demoted")},
            "programs_ended": c("programs_ended", "Programs whose last turn finished"),
            "programs_inferred": c("programs_inferred",
                                   "Requests with no program id that started a new program"),
            "turns_inferred": c("turns_inferred", "Requests with no program id found to "
                                "continue a finished turn of a program"),
            "gate_held_total": c("gate_holds", "admission_gate: passes over a new "
                                 "program's first turn, summed over admission passes"),
            "turns_unlocked_host": c("turns_unlocked_host", "Finished turns left unlocked "
                                     "because the host tier holds the programs' contexts"),
            "ended_dropped_tokens": c("ended_dropped_tokens", "drop_ended: device KV "
                                      "tokens given up at programs' ends"),
        }
        self.tau = child(Histogram(_PREFIX + "tau_seconds", "TTL set per finished turn, "
                                   "after bounds (0: none; last turns excluded)", base,
                                   buckets=TAU_BUCKETS, registry=None))
        self._seen: dict[str, int] = {}
        self._tools: set[str] = set()  # tool labels exported now

    def observe_ttl(self, ttl_s: float, reason: str) -> None:
        """One finished turn's decision: its TTL, observed as it is (exact sum)."""
        if reason not in _NO_TTL_CHOSEN and math.isfinite(ttl_s):
            self.tau.observe(ttl_s)

    def update(self, snap) -> None:
        self.locked_tokens.set(snap.locked_tokens)
        self.active_locks.set(snap.active_locks)
        self.programs.set(snap.programs)
        self.queue_delay.set(snap.queue_delay_s)
        self.eta.set(snap.eta)
        self.contention.set(snap.contention)
        self.memory_price.set(snap.memory_price)
        self.overdue_locked_tokens.set(snap.overdue_locked_tokens)
        self.host_holds.set(snap.host_holds)
        self.host_held_tokens.set(snap.host_held_tokens)
        self.first_turn_share.set(snap.first_turn_share)
        self.live_context_tokens.set(snap.live_context_tokens)
        self.host_capacity_tokens.set(snap.host_capacity_tokens)
        self.gate_held.set(snap.gate_held)
        self.gate_resident_tokens.set(snap.gate_resident_tokens)
        for name, counter in self.counters.items():
            total = getattr(snap, name)
            delta = total - self._seen.get(name, 0)
            if delta > 0:
                counter.inc(delta)
            self._seen[name] = total
        self._update_tools(snap.tools)

    def _update_tools(self, tools: Mapping[str, tuple[int, float, float]]) -> None:
        """The top tools by samples get their own labels, the rest one "(other)" series.
        prometheus_client's multiprocess mode cannot remove a series, so a tool that
        leaves the top keeps its series with 0 samples (its samples now count under
        "(other)", so sums stay right) and NaN quantiles (no value)."""
        ranked = sorted(tools.items(), key=lambda kv: (-kv[1][0], kv[0]))
        top, rest = ranked[:self.max_tools], ranked[self.max_tools:]
        base = self.labels
        for tool, (count, p50, p90) in top:
            self.tool_samples.labels(**base, tool=tool).set(count)
            self.tool_seconds.labels(**base, tool=tool, quantile="0.5").set(p50)
            self.tool_seconds.labels(**base, tool=tool, quantile="0.9").set(p90)
        names = {tool for tool, _ in top}
        for tool in self._tools - names - {OTHER_TOOLS}:
            self.tool_samples.labels(**base, tool=tool).set(0)
            for q in ("0.5", "0.9"):
                self.tool_seconds.labels(**base, tool=tool, quantile=q).set(math.nan)
        if rest or OTHER_TOOLS in self._tools:
            self.tool_samples.labels(**base, tool=OTHER_TOOLS).set(
                sum(count for _, (count, _, _) in rest))
            names.add(OTHER_TOOLS)
        self._tools = names
