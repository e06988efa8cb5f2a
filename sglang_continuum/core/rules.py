"""Where a finished turn's TTL comes from, per mode: the paper's cost model, the
pressure-priced one (docs/design.md, "The default lock policy"), or a fixed TTL.

The rules read the estimates the policy keeps (tool durations, T, eta, contention) at
decision time; they hold no state of their own.
"""

from __future__ import annotations

from typing import Callable

from .config import PolicyConfig, rebuild_profile
from .contention import ContentionGauge
from .durations import ToolStats
from .estimators import EtaEstimator, QueueDelayWindow
from .ttl import PricedTable, choose_ttl, cold_start_ttl, priced_cold_start_ttl

TtlRule = Callable[[str | None, int, bool, float], tuple[float, str]]

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
        return {"pressure": self.pressure, "paper": self.paper, "fixed": self.fixed,
                "off": None}[mode]

    def paper(self, tool: str | None, context_tokens: int,
              open_ended: bool = False, p_continue: float = 1.0) -> tuple[float, str]:
        cfg = self._cfg
        reload = self._rebuild.seconds(context_tokens) * p_continue
        delay = self._queue_delay.mean() * p_continue
        if self._stats.total() < cfg.cold_start_samples:
            gain = delay + reload  # eta = 1 and Exp(mean) durations until K samples
            return cold_start_ttl(gain, cfg.cold_start_mean_s, cfg.max_ttl_s), "cold_start"
        gain = delay * self._eta.eta() + reload
        return choose_ttl(self._stats.sorted_samples(tool), gain, cfg.max_ttl_s), "cost_model"

    def pressure(self, tool: str | None, context_tokens: int,
                 open_ended: bool = False, p_continue: float = 1.0) -> tuple[float, str]:
        """The paper's gain, memory priced by contention (ttl.priced_ttl, over the
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
            return (cfg.max_ttl_s if delay + reload > 0 else 0.0), "pressure"
        cold = cfg.open_cold_start_samples if open_ended else cfg.cold_start_samples
        if stats.total() < cold:
            return priced_cold_start_ttl(delay + reload, price, cfg.cold_start_mean_s,
                                         cfg.max_ttl_s, cfg.lock_quantile), "cold_start"
        gain = delay * self._eta.eta() + reload if delay else reload
        window = stats.window(tool)
        table = window.memo
        if table is None or (window.adds - table.stamp) * TABLE_REFRESH > table.n:
            table = window.memo = PricedTable.build(window.sorted(), cfg.lock_quantile,
                                                    cfg.max_ttl_s, window.adds)
        return table.best(gain, price), "pressure"

    def fixed(self, tool: str | None, context_tokens: int,
              open_ended: bool = False, p_continue: float = 1.0) -> tuple[float, str]:
        return min(self._cfg.fixed_ttl_s, self._cfg.max_ttl_s), "fixed"
