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
from .ttl import choose_ttl, cold_start_ttl, priced_cold_start_ttl, priced_ttl

TtlRule = Callable[[str | None, int], tuple[float, str]]


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

    def paper(self, tool: str | None, context_tokens: int) -> tuple[float, str]:
        cfg = self._cfg
        reload = self._rebuild.seconds(context_tokens)
        delay = self._queue_delay.mean()
        if self._stats.total() < cfg.cold_start_samples:
            gain = delay + reload  # eta = 1 and Exp(mean) durations until K samples
            return cold_start_ttl(gain, cfg.cold_start_mean_s, cfg.max_ttl_s), "cold_start"
        gain = delay * self._eta.eta() + reload
        return choose_ttl(self._stats.sorted_samples(tool), gain, cfg.max_ttl_s), "cost_model"

    def pressure(self, tool: str | None, context_tokens: int) -> tuple[float, str]:
        """The paper's gain, memory priced by contention (ttl.priced_ttl)."""
        cfg = self._cfg
        reload = self._rebuild.seconds(context_tokens)
        delay = self._queue_delay.mean()
        price = self._contention.price()
        if self._stats.total() < cfg.cold_start_samples:
            return priced_cold_start_ttl(delay + reload, price, cfg.cold_start_mean_s,
                                         cfg.max_ttl_s, cfg.lock_quantile), "cold_start"
        gain = delay * self._eta.eta() + reload
        return priced_ttl(self._stats.sorted_samples(tool), gain, price, cfg.max_ttl_s,
                          cfg.lock_quantile), "pressure"

    def fixed(self, tool: str | None, context_tokens: int) -> tuple[float, str]:
        return min(self._cfg.fixed_ttl_s, self._cfg.max_ttl_s), "fixed"
