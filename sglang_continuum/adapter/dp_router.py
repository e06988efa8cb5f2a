"""Program-sticky data parallelism: the adapter between SGLang's DP controller and
``adapter/dp_routing.py``.

With ``--dp-size N`` SGLang's ``DataParallelController`` (its own process, where the
plugin runs too) sends each request to a rank by its load-balance method. A BEFORE hook
on ``dispatching_with_trace`` names the rank first, through SGLang's own field
``routed_dp_rank`` (which every method honours, and which a client may also set): a
request of a program goes to the program's home rank (``StickyRanks``), a new program
to the least loaded rank by SGLang's own load snapshot (running + waiting requests per
rank). The program is the request's explicit id (``custom_params.program_id``, else
``routing_key``, else ``session_id``) or, with ``--continuum-infer-programs on``, the
program whose last prompt this one extends (``IdentityTable`` in prompt-only mode: the
controller sees requests, not outputs). Requests of no program, health checks and
requests that already name a rank keep SGLang's method.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from sglang_continuum.adapter.dp_routing import REASONS, DpRoutingConfig, StickyRanks
from sglang_continuum.core import HintError, IdentityConfig, IdentityTable, parse_hints
from sglang_continuum.core.tenants import tenant as tenant_of_namespaces

logger = logging.getLogger(__name__)


class DpRouter:
    def __init__(self, infer_programs: bool, ranks: int, config: DpRoutingConfig | None = None,
                 clock: Callable[[], float] = time.monotonic, export_metrics: bool = False):
        self.ranks = StickyRanks(config)
        self.identity = IdentityTable(IdentityConfig(prompt_only=True)) \
            if infer_programs else None
        self.clock = clock
        self._counter = None
        if export_metrics:
            from prometheus_client import Counter

            self._counter = Counter("sglang_continuum_dp_routed_total",
                                    "Program requests routed to a DP rank, by rank and "
                                    "reason (home, new, moved_failed, moved_saturated)",
                                    ("rank", "reason"), registry=None)
            for rank in range(ranks):  # exported from the start, at 0
                for reason in REASONS:
                    self._counter.labels(str(rank), reason)

    def key(self, req):
        """The request's program key, or None (SGLang's method routes it)."""
        custom = getattr(req.sampling_params, "custom_params", None)
        try:
            hints = parse_hints(custom, getattr(req, "routing_key", None),
                                getattr(req, "session_id", None))
        except HintError:
            return None  # rejected at the HTTP edge; a direct engine call may skip it
        # The scheduler's Req appends the LoRA id to extra_key; the tokenized request
        # still holds them apart: joined as SGLang joins them, one tenant on both sides.
        lora = getattr(req, "lora_id", None)
        extra = getattr(req, "extra_key", None)
        tenant = tenant_of_namespaces(getattr(req, "cache_salt", None),
                                      (extra or "") + lora if lora else extra)
        if hints is not None:
            return (tenant, hints.program_id)
        if self.identity is None or req.input_ids is None:
            return None
        now = self.clock()
        key = self.identity.continues(tenant, req.input_ids, now) \
            or self.identity.start(tenant, req.rid)
        self.identity.record(key, req.input_ids, (), now)
        return key

    def choose(self, req, loads: list[int], active: list[int]) -> int | None:
        """The rank for `req`, or None to leave it to SGLang's method."""
        key = self.key(req)
        if key is None or not active:
            return None
        route = self.ranks.route(key, loads, active)
        if self._counter is not None:
            self._counter.labels(str(route.rank), route.reason).inc()
        if route.reason.startswith("moved"):
            logger.info("program %s moved to DP rank %d (%s)", key[1], route.rank,
                        route.reason)
        return route.rank


def before_dp_dispatch(self, req, *args, **kwargs):
    """BEFORE hook on ``DataParallelController.dispatching_with_trace``."""
    router = getattr(self, "_continuum_dp_router", None)
    if router is None:
        router = self._continuum_dp_router = _make_router(self)
    if router is False or getattr(req, "routed_dp_rank", None) is not None:
        return
    from sglang.srt.managers.data_parallel_controller import is_health_check_generate_req

    if is_health_check_generate_req(req):
        return
    self.refresh_load_budget()  # SGLang's snapshot of each rank's load (throttled)
    budget = self.dp_budget
    rank = router.choose(req, budget.total_requests, self._active_workers)
    if rank is not None:
        req.routed_dp_rank = rank
        budget.total_requests[rank] += 1  # until the next snapshot, as SGLang's budget does


def _make_router(controller):
    """The router of this DP controller, or False when the overlay is off or the
    settings keep SGLang's method."""
    from sglang_continuum.adapter.settings import BACKEND_NAME, Settings

    if getattr(controller.server_args, "radix_cache_backend", None) != BACKEND_NAME:
        return False
    settings = Settings.from_env() or Settings()
    if settings.dp_routing != "sticky":
        return False
    logger.info("sglang-continuum: program-sticky DP routing over %d ranks",
                len(controller.workers))
    return DpRouter(settings.infer_programs, len(controller.workers), export_metrics=True)
