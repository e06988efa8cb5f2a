"""The ``continuum`` radix-cache backend: SGLang's UnifiedRadixCache plus TTL locks.

The tree, its eviction and its locks are SGLang's own; a TTL lock is one ordinary
``TreeLock`` on the last node of a paused program's context, held by the
:class:`~sglang_continuum.adapter.controller.Controller` and released at the next
turn, at expiry, under memory pressure, or when the program ends.
"""

from __future__ import annotations

import logging

from sglang.srt.mem_cache.registry import TreeCacheBuildContext, create_unified_radix_cache
from sglang.srt.mem_cache.unified_radix_cache import UnifiedRadixCache

from sglang_continuum.server.settings import Settings

logger = logging.getLogger(__name__)


class ContinuumRadixCache(UnifiedRadixCache):
    """UnifiedRadixCache whose finished requests may leave a TTL lock behind."""

    continuum = None  # the Controller, attached by the factory after construction

    def on_release(self, req, *, checkpointed: bool) -> None:
        # Runs after the request's KV was inserted into the tree (req.last_node is
        # the node the insert ended on) and after the request's own lock was dropped.
        super().on_release(req, checkpointed=checkpointed)
        if self.continuum is not None:
            self.continuum.on_release(req, checkpointed=checkpointed)

    def reset(self) -> None:
        # flush_cache: every TreeLock becomes stale; forget them before the tree goes.
        if self.continuum is not None:
            self.continuum.forget_all_locks()
        super().reset()


def make_factory(settings_loader):
    """The factory registered under ``--radix-cache-backend continuum``."""

    def factory(ctx: TreeCacheBuildContext):
        from sglang.srt.plugins.hook_registry import HookRegistry

        from sglang_continuum.adapter.controller import Controller
        from sglang_continuum.adapter.hooks import HOOKS, check_seams

        # In a server, load_plugins() registered and applied our hooks before the cache
        # is built: check they were patched. A test building the cache directly has
        # registered none; the attribute checks still run.
        registered = any(t in getattr(HookRegistry, "_hooks", {}) for t, _, _ in HOOKS)
        report = check_seams(HookRegistry if registered else None)
        if not report.ok:  # never serve half-applied: refuse, naming each seam
            raise RuntimeError(report.message())
        settings: Settings = settings_loader() or Settings()
        cache = create_unified_radix_cache(ctx, cache_class=ContinuumRadixCache)
        if not isinstance(cache, ContinuumRadixCache) or cache.disable:
            logger.warning("sglang-continuum: radix cache disabled; the overlay is inactive")
            return cache
        capacity = int(ctx.params.token_to_kv_pool_allocator.size)
        cache.continuum = Controller(cache, settings, capacity_tokens=capacity,
                                     export_metrics=ctx.tp_rank == 0
                                     and bool(ctx.params.enable_metrics))
        logger.info("sglang-continuum overlay active in the scheduler process (tp_rank=%d, "
                    "KV capacity %d tokens): %s", ctx.tp_rank, capacity, settings.to_json())
        return cache

    return factory
