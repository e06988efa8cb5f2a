"""How long a finished turn is locked: the rule of each mode over the cost model, and the
memory price that contention sets.

Rules per mode
--------------
Where a finished turn's TTL comes from, per mode: "hold" (the default: until the tool
returns, up to max_ttl_s, while memory is free to hold; priced by contention when
contention_saturation > 0, docs/design.md, "The default lock policy"), the paper's
cost model, or a fixed TTL.

The rules read the estimates the policy keeps (tool durations, T, eta, contention) at
decision time; they hold no state of their own.

The cost model
--------------
The Continuum cost model: tau* = argmax_tau P(tau) * gain - tau.

Contention
----------
How contended the KV pool is, learned from events the core already sees.

Two signals say that memory is short: a resumed turn found its context evicted (a
lapse or an LRU eviction cost it a rebuild), or a waiting request did not fit even
after LRU had evicted everything unlocked (the driver asked for a lock to give way).
The gauge is an exponentially weighted share of the later turns that came back without
a lock (a lapse, a refusal, no lock chosen) and saw either; it needs no clock and moves
once per such admission. Turns that found their lock are not sampled: a lock says
nothing about what the pool would have done without it, and counting them would hide
the contention exactly when the locks work.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from .config import PolicyConfig, rebuild_profile
from .estimates import EtaEstimator, QueueDelayWindow, ToolStats


# Rules per mode ----------------------------------------------------------------------

# (tool, context_tokens, open_ended, p_continue, tenant) -> (ttl_s, reason); the tenant
# picks whose recorded durations decide (ToolStats.window; None: the shared ones).
TtlRule = Callable[[str | None, int, bool, float, str | None], tuple[float, str]]

# A window's PricedTable is rebuilt once the window took len/TABLE_REFRESH new durations
# (at once below TABLE_REFRESH samples): between rebuilds a candidate quantile moves by
# at most 1/TABLE_REFRESH of the mass, and a finished turn pays one bisect, not a rebuild
# (each turn's arrival records a duration: rebuilding per record was most of the cost).
TABLE_REFRESH = 64


class TtlRules:
    def __init__(self, config: PolicyConfig, stats: ToolStats, queue_delay: QueueDelayWindow,
                 eta: EtaEstimator, contention: ContentionGauge) -> None:
        self._cfg = config
        self._stats = stats
        self._queue_delay = queue_delay
        self._eta = eta
        self._contention = contention
        self._rebuild = rebuild_profile(config)  # prefill, or a reload from host memory

    def for_mode(self, mode: str) -> TtlRule | None:
        """The rule of `mode` (None for "off")."""
        return {"hold": self.hold, "paper": self.paper, "fixed": self.fixed,
                "off": None}[mode]

    def paper(self, tool: str | None, context_tokens: int, open_ended: bool = False,
              p_continue: float = 1.0, tenant: str | None = None) -> tuple[float, str]:
        cfg = self._cfg
        reload = self._rebuild.seconds(context_tokens) * p_continue
        delay = self._queue_delay.mean() * p_continue
        if self._stats.total() < cfg.cold_start_samples:
            gain = delay + reload  # eta = 1 and Exp(mean) durations until K samples
            return cold_start_ttl(gain, cfg.cold_start_mean_s, cfg.max_ttl_s), "cold_start"
        gain = delay * self._eta.eta() + reload
        return (choose_ttl(self._stats.sorted_samples(tool, tenant), gain, cfg.max_ttl_s),
                "cost_model")

    def hold(self, tool: str | None, context_tokens: int, open_ended: bool = False,
             p_continue: float = 1.0, tenant: str | None = None) -> tuple[float, str]:
        """The paper's gain, memory priced by contention (priced_ttl, over the
        window's cached PricedTable). `open_ended`: the program will not announce its
        last turn, so the recorded durations replace the prior sooner. `p_continue`: the
        probability the context is continued at all; it scales the gain."""
        cfg, stats = self._cfg, self._stats
        reload = self._rebuild.seconds(context_tokens) * p_continue
        delay = self._queue_delay.mean() * p_continue
        price = self._contention.price()
        if price <= 0 and not open_ended and cfg.contended_ttl == "max":
            # Contended: a lock gives way to older programs and to an idle engine, so
            # holding costs nobody ahead of it; hold until the tool returns (bounded).
            return (cfg.max_ttl_s if delay + reload > 0 else 0.0), "hold"
        cold = cfg.open_cold_start_samples if open_ended else cfg.cold_start_samples
        if stats.total() < cold:
            return priced_cold_start_ttl(delay + reload, price, cfg.cold_start_mean_s,
                                         cfg.max_ttl_s, cfg.lock_quantile), "cold_start"
        gain = delay * self._eta.eta() + reload if delay else reload
        window = stats.window(tool, tenant)
        table = window.memo
        if table is None or (window.adds - table.stamp) * TABLE_REFRESH > table.n:
            table = window.memo = PricedTable.build(window.sorted(), cfg.lock_quantile,
                                                    cfg.max_ttl_s, window.adds)
        return table.best(gain, price), "hold"

    def fixed(self, tool: str | None, context_tokens: int, open_ended: bool = False,
              p_continue: float = 1.0, tenant: str | None = None) -> tuple[float, str]:
        return min(self._cfg.fixed_ttl_s, self._cfg.max_ttl_s), "fixed"


# The cost model ----------------------------------------------------------------------

def choose_ttl(samples_sorted: Sequence[float], gain_s: float, max_ttl_s: float) -> float:
    """Best TTL among {0} and the positive recorded durations not above `max_ttl_s`.

    Maximises P(tau) * gain_s - tau where P(tau) is the fraction of samples <= tau.
    `samples_sorted` must be ascending. Restricting candidates to <= max_ttl_s gives the
    exact constrained optimum (clamping the unconstrained one would be worse).
    Ties go to the smaller tau; a score that is not positive means do not lock (0.0).
    One vectorised O(n) pass: about 25 us for 10k samples.
    """
    d = np.asarray(samples_sorted, dtype=np.float64)
    n = d.shape[0]
    if n == 0 or not gain_s > 0 or not max_ttl_s > 0:
        return 0.0
    # A zero-length lock catches nothing, so zero durations count in P but are no
    # candidates.
    # ndarray methods, not the np.* wrappers: this runs once per finished turn and the
    # wrappers' dispatch costs about as much as the arithmetic on a few thousand samples.
    lo = int(d.searchsorted(0.0, side="right"))
    hi = int(d.searchsorted(max_ttl_s, side="right"))
    if hi <= lo:
        return 0.0
    # Among equal durations the last index carries the full P, so argmax picks it.
    score = np.arange(lo + 1, hi + 1, dtype=np.float64)
    score *= gain_s / n
    score -= d[lo:hi]
    best = int(score.argmax())
    return float(d[lo + best]) if score[best] > 0 else 0.0


def cold_start_ttl(gain_s: float, mean_s: float = 1.0, max_ttl_s: float = math.inf) -> float:
    """Closed form when durations are Exp(mean_s): max(0, mean * ln(gain / mean)), clamped.

    d/dtau [(1 - e^(-tau/m)) * G - tau] = 0  gives  tau = m * ln(G / m).
    """
    if not gain_s > mean_s or not max_ttl_s > 0:
        return 0.0
    return min(mean_s * math.log(gain_s / mean_s), max_ttl_s)


# Candidate TTLs of the priced rule: these quantiles of the tool's durations (plus the
# configured top quantile, and max_ttl when that quantile lies beyond it). A few
# nearest-rank lookups in the sorted window instead of a scan of every sample: the
# decision costs the same at 100 or 10,000 recorded durations.
PRICED_LEVELS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95,
                                    0.97, 0.98, 0.99, 0.995, 0.999)


@lru_cache(maxsize=64)
def _candidate_ranks(n: int, quantile: float) -> tuple[tuple[int, ...], np.ndarray]:
    """Nearest ranks (1-based) of the candidate quantiles among n samples, and their
    0-based indices. A pure function of (n, quantile), memoised: a full window has
    one n."""
    ranks = [math.ceil(q * n) for q in PRICED_LEVELS if q < quantile]
    ranks.append(math.ceil(quantile * n))
    index = np.array([max(0, r - 1) for r in ranks], dtype=np.intp)
    index.flags.writeable = False
    return tuple(ranks), index


class PricedTable:
    """The priced rule's candidates for one sorted window, reduced to their upper hull.

    Candidates are the points (tau, rank) of PRICED_LEVELS up to `quantile`, one beyond
    `max_ttl_s` replaced by (max_ttl_s, its rank) and none larger, zero taus dropped,
    plus (0, 0) for "do not lock". Maximising rank * gain / n - price * tau is
    maximising rank - lam * tau with lam = price * n / gain, whose answer is the hull
    vertex where the slopes cross lam: one bisect per decision. Built once per window
    state (``build``: O(grid)); ``best`` is O(log grid) whatever the window's size.
    """

    __slots__ = ("n", "taus", "neg_slopes", "stamp")

    def __init__(self, n: int, taus: list[float], neg_slopes: list[float], stamp: int = 0):
        self.n, self.taus, self.neg_slopes, self.stamp = n, taus, neg_slopes, stamp

    @classmethod
    def build(cls, samples_sorted: np.ndarray, quantile: float, max_ttl_s: float,
              stamp: int = 0) -> "PricedTable":
        n = samples_sorted.shape[0]
        ts, rs = [0.0], [0]  # hull vertices: taus and ranks, both increasing
        if n and max_ttl_s > 0:
            ranks, index = _candidate_ranks(n, quantile)
            for rank, tau in zip(ranks, samples_sorted.take(index).tolist()):
                last = tau > max_ttl_s
                if last:
                    tau = max_ttl_s
                    rank = int(samples_sorted.searchsorted(max_ttl_s, side="right"))
                # a longer lock that catches no more never wins (ties: smaller tau)
                if tau > 0 and rank > rs[-1]:
                    # drop vertices on or under the chord: never a strict argmax
                    while len(ts) > 1 and (rs[-1] - rs[-2]) * (tau - ts[-2]) \
                            <= (rank - rs[-2]) * (ts[-1] - ts[-2]):
                        ts.pop()
                        rs.pop()
                    ts.append(tau)
                    rs.append(rank)
                if last:
                    break
        neg = [(r0 - r1) / (t1 - t0) for t0, t1, r0, r1 in zip(ts, ts[1:], rs, rs[1:])]
        return cls(n, ts, neg, stamp)

    def best(self, gain_s: float, price: float) -> float:
        """argmax of P(tau) * gain_s - price * tau over the candidates (0.0: no lock);
        ties go to the smaller tau."""
        if not gain_s > 0:
            return 0.0
        # vertex k wins iff the k segments before it are steeper than lam (strictly);
        # lam = price * n / gain (n = 0: no candidate, the table is (0, 0) alone)
        return self.taus[bisect_left(self.neg_slopes, -(price if price > 0 else 0.0)
                                     * self.n / gain_s)]


def priced_ttl(samples_sorted: np.ndarray, gain_s: float, price: float, max_ttl_s: float,
               quantile: float = 0.999) -> float:
    """argmax over candidate tau of P(tau) * gain_s - price * tau (0.0: do not lock).

    Candidates are the durations at PRICED_LEVELS up to `quantile` (and `quantile`
    itself); one beyond `max_ttl_s` is replaced by `max_ttl_s` with its own P, and no
    larger candidate is tried. price = 1 is the paper's rule on a quantile grid;
    price = 0 (memory free to hold) locks for the `quantile` duration, capped. Ties go
    to the smaller tau; zero-length candidates are skipped (they catch nothing).
    The policy keeps the PricedTable of each window between decisions.
    """
    return PricedTable.build(samples_sorted, quantile, max_ttl_s).best(gain_s, price)


def priced_cold_start_ttl(gain_s: float, price: float, mean_s: float = 1.0,
                          max_ttl_s: float = math.inf, quantile: float = 0.999) -> float:
    """The priced rule while durations are assumed Exp(mean_s) (cold start).

    d/dtau [(1 - e^(-tau/m)) * G - price * tau] = 0 gives tau = m * ln(G / (price * m)),
    capped at the `quantile` of Exp(m), -m * ln(1 - quantile), and at max_ttl_s.
    price = 1 is cold_start_ttl; price = 0 gives the cap.
    """
    if not gain_s > 0 or not max_ttl_s > 0:
        return 0.0
    cap = -mean_s * math.log1p(-quantile)
    if price > 0:
        if not gain_s > price * mean_s:
            return 0.0
        cap = min(cap, mean_s * math.log(gain_s / (price * mean_s)))
    return min(cap, max_ttl_s)


# Contention --------------------------------------------------------------------------

class ContentionGauge:
    """Share (0..1) of recent unlocked resumptions that met memory pressure.

    `window` sets the averaging weight (1/window per admission); `saturation` is the
    share at which memory counts as fully contended (price 0 for holding it, see
    :meth:`price`).
    """

    __slots__ = ("_alpha", "_saturation", "_level", "_pressed", "_last_hit")

    def __init__(self, window: int, saturation: float) -> None:
        self._alpha = 1.0 / window
        self._saturation = saturation
        self._level = 0.0
        self._pressed = False
        self._last_hit = True  # no admission yet: nothing to correct

    @property
    def level(self) -> float:
        return self._level

    def pressed(self) -> None:
        """A request did not fit without a lock giving way (or decode ran short)."""
        self._pressed = True

    def resumed(self) -> None:
        """A later turn of a program was admitted without a lock: one sample."""
        hit = self._pressed
        self._level += self._alpha * ((1.0 if hit else 0.0) - self._level)
        self._pressed = False
        self._last_hit = hit

    def evicted(self) -> None:
        """The turn just admitted had lost its context: count it as pressured."""
        if not self._last_hit:
            # resumed() moved the level toward 0; toward 1 instead differs by alpha.
            self._level = min(1.0, self._level + self._alpha)
            self._last_hit = True

    def price(self) -> float:
        """Shadow price of holding memory, relative to the paper's (1 = the paper's
        "one average request blocked per second held", 0 = free).

        Uncontended, the price is the paper's. As pressure grows, the memory a lock
        holds could only go to programs that program FCFS serves after the lock's
        owner (locks give way to older programs and to an idle engine), so holding
        it costs those behind less and less: at `saturation` the price is 0.
        """
        if self._saturation <= 0:
            return 0.0
        return max(0.0, 1.0 - self._level / self._saturation)
