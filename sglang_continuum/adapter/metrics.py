"""Prometheus export of the policy snapshot on SGLang's ``/metrics``.

SGLang serves ``/metrics`` from the HTTP process with prometheus_client's multiprocess
collector; metrics created here, in the scheduler process, land in the same
multiprocess directory. They are not added to the default registry (no global state).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from sglang_continuum.core import TAU_BUCKETS

MAX_TOOL_LABELS = 32  # bounds label cardinality: tool names come from clients
_PREFIX = "sglang_continuum_"


class PrometheusExporter:
    def __init__(self):
        g = lambda name, doc, labels=(): Gauge(  # noqa: E731
            _PREFIX + name, doc, labels, registry=None, multiprocess_mode="mostrecent")
        c = lambda name, doc: Counter(_PREFIX + name, doc, registry=None)  # noqa: E731
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
        self.first_turn_share = g("first_turn_continued_share", "Learned share of requests "
                                  "with no program id that a later prompt continued (agents' "
                                  "first turns)")
        self.tool_seconds = g("tool_duration_seconds", "Learned tool duration quantiles",
                              ("tool", "quantile"))
        self.tool_samples = g("tool_duration_samples", "Recorded tool durations", ("tool",))
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
        }
        self.tau = Histogram(_PREFIX + "tau_seconds", "TTL chosen per finished turn",
                             buckets=TAU_BUCKETS[1:], registry=None)
        self._seen: dict[str, int] = {}
        self._tau_seen = [0] * (len(TAU_BUCKETS))

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
        for name, counter in self.counters.items():
            total = getattr(snap, name)
            delta = total - self._seen.get(name, 0)
            if delta > 0:
                counter.inc(delta)
            self._seen[name] = total
        # The snapshot carries cumulative bucket counts; feed the new ones as observations
        # at each bucket's upper bound so the exported histogram matches it.
        for i, (bound, count) in enumerate(zip(snap.tau_buckets, snap.tau_counts)):
            for _ in range(count - self._tau_seen[i]):
                self.tau.observe(bound if bound != float("inf") else 1e9)
            self._tau_seen[i] = count
        tools = sorted(snap.tools.items(), key=lambda kv: -kv[1][0])[:MAX_TOOL_LABELS]
        for tool, (count, p50, p90) in tools:
            self.tool_samples.labels(tool).set(count)
            self.tool_seconds.labels(tool, "0.5").set(p50)
            self.tool_seconds.labels(tool, "0.9").set(p90)
