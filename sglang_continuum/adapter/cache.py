"""The ``continuum`` radix-cache backend: SGLang's UnifiedRadixCache plus TTL locks.

The tree, its eviction and its locks are SGLang's own; a TTL lock is one ordinary
``TreeLock`` on the last node of a paused program's context, held by the
:class:`~sglang_continuum.adapter.controller.Controller` and released at the next
turn, at expiry, under memory pressure, or when the program ends.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict

from sglang.srt.mem_cache.registry import TreeCacheBuildContext, create_unified_radix_cache
from sglang.srt.mem_cache.unified_radix_cache import TreeLock, UnifiedRadixCache

from sglang_continuum.adapter.settings import Settings

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

    def path(self, node):
        """``core.KvLocks.path``: the segments lock(node) pins, (tree node id, tokens)
        from the root to `node`, as the tree core copies them (collect_path_info)."""
        (infos,) = self.tree_core.collect_path_info([node])
        return [(info.node_id, info.path_end - info.path_start) for info in infos]

    @property
    def has_host_tier(self) -> bool:
        """HiCache (--enable-hierarchical-cache) keeps a host copy of the tree's KV."""
        return self.cache_controller is not None and \
            getattr(self, "host_memory_mode", "cache") == "cache"

    def demote(self, handle):
        """``core.turns.HostTier.demote``: release a TTL lock and move its node's KV to
        host memory as SGLang's eviction loop does (back up, then demote), so the device
        slots are free at once and the program's next turn loads the KV back. Returns a
        host lock on the node, or None when the node is not a device leaf nobody else
        holds (left as ordinary cache: device eviction demotes or drops it later)."""
        node = handle.node
        if not self.has_host_tier or self.is_root(node):
            self.unlock(handle)
            return None
        if self.ongoing_write_through:  # finish write-throughs: they lock their nodes
            self.writing_check(write_back=True)
        before = self.full_evictable_size()
        self.unlock(handle)
        # Our lock was the last on the node iff unlocking made its tokens evictable
        # (a lock on a node counts on its whole path): a running request may hold it.
        if self.full_evictable_size() == before:
            return None
        (*ancestors, info), = self.tree_core.collect_path_info([node])
        if info.num_children or info.full_value_len is None:
            return None  # not a device leaf (a later turn extended it), or host-only
        # A host-only node needs every ancestor on host too: SGLang evicts an unbacked
        # device node (write_through) by deleting it, and a node with a host-only child
        # cannot be deleted (the tree core panics). A write-through can fail (a full
        # host pool) or not have run yet, so back the path up from the top first.
        unbacked = [i for i in (*ancestors, info)
                    if not self.is_root(i.node_id) and not self.is_backuped(i.node_id)]
        # Only into free host slots: a backup into a full pool evicts host copies
        # (evict_host), which deletes host-only nodes that the waiting requests of this
        # scheduling round have matched, and SGLang then locks a node that is gone
        # (KeyError in inc_host_lock_ref; seen live with write_back and a host pool half
        # the device pool's size). Without the room it stays ordinary device cache.
        need = sum(i.path_end - i.path_start for i in unbacked)
        if need and self.cache_controller.mem_pool_host.available_size() < need:
            return None
        for i in unbacked:
            if not self.backup_node_for_write_back(i.node_id):
                return None  # the host pool is full: it stays ordinary device cache
        host = TreeLock(node, self.inc_host_lock_ref(node).to_dec_params())
        self._demote(node, defaultdict(int))
        return host

    def drop_ended(self, node) -> int:
        """The Controller's call when a program's last turn finished (setting
        ``drop_ended``): give up the device KV only the context ending at `node` used,
        from the leaf up, without writing it to host memory (a host copy it already had
        stays, for host eviction to take in its turn). Returns the device tokens freed.

        A node goes only while the tree core would evict it itself: on the device, with
        no child still on the device (the one the walk came from was just dropped, or is
        host-only after its demote), and held by no lock (taking one moves its tokens
        off the evictable count only then; the tree core panics on anything else, and a
        panic poisons the tree). The first node that fails stops the walk: what another
        context shares, or a running request holds, stays ordinary cache. Every TP rank
        walks the same tree through the same checks, so the ranks drop alike."""
        from sglang.srt.mem_cache.unified_cache.components.base import ComponentType

        if self.has_host_tier and self.ongoing_write_through:
            self.writing_check(write_back=True)  # write-throughs lock their nodes
        tracker = defaultdict(int)
        write_back = self.has_host_tier and self.is_write_back
        child_kept = False  # the node the walk came from stays, host-only
        while node is not None and not self.is_root(node):
            ((*_, info),) = self.tree_core.collect_path_info([node])
            backed = self.has_host_tier and self.is_backuped(node)
            # an unbacked node is deleted, which the tree core refuses (panics) for a
            # node with any child left
            if info.full_value_len is None or info.num_children > (1 if child_kept else 0) \
                    or (info.num_children and not backed) or self._held(node):
                break
            if backed:
                self._demote(node, tracker)  # as demote(): the host copy stays
            elif write_back:
                if not self._drop_subtree_no_host(node, tracker):
                    break
            elif self._evict_device_leaf(node, tracker) is not None:
                break  # not reached: only an unbacked write-back node defers a backup
            child_kept, node = backed, info.parent_id
        return tracker[ComponentType.FULL]

    def _held(self, node) -> bool:
        """Whether a lock other than ours holds `node` (a request, a TTL lock, a
        write-through): a lock pins the whole path, so our lock moves the node's tokens
        off the evictable count exactly when no other lock holds it."""
        before = self.full_evictable_size()
        handle = self.lock(node)
        taken = before - self.full_evictable_size()
        self.unlock(handle)
        return taken <= 0

    def host_free_tokens(self):
        """``core.turns.HostTier.host_free_tokens``: the host pool's free slots. Every TP
        rank's host pool allocates and frees as the tree's operations do, which SGLang
        keeps identical across ranks (the rank consensus check), so the ranks read the
        same number."""
        if not self.has_host_tier:
            return None
        return self.cache_controller.mem_pool_host.available_size()

    def host_capacity_tokens(self):
        """``core.turns.HostTier.host_capacity_tokens``: the tokens the two tiers hold
        together (``--hicache-ratio`` or ``--hicache-size``: the same on every TP rank).
        Under ``write_back`` the host holds what the device evicted, so the two add up;
        under ``write_through`` (and ``_selective``) the host mirrors the device's
        backed-up KV: the host pool's size alone."""
        if not self.has_host_tier:
            return None
        host = self.cache_controller.mem_pool_host.size
        if getattr(self.cache_controller, "write_policy", None) == "write_back":
            host += int(self.token_to_kv_pool_allocator.size)
        return host

    def unhold(self, host_handle) -> None:
        """``core.turns.HostTier.unhold``: release a host lock demote() returned."""
        self.dec_host_lock_ref(host_handle.node, host_handle.receipt)

    def reset(self) -> None:
        # flush_cache: every TreeLock becomes stale; forget them before the tree goes.
        if self.continuum is not None:
            self.continuum.forget_all_locks()
        super().reset()


def _metric_labels(ctx: TreeCacheBuildContext) -> dict:
    """The labels SGLang's own scheduler metrics carry in this process."""
    from sglang.srt.runtime_context import get_parallel

    from sglang_continuum.adapter.metrics import scheduler_labels

    parallel = get_parallel()
    return scheduler_labels(ctx.server_args.served_model_name, ctx.tp_rank,
                            _published(parallel, "pp_rank", 0), _published(parallel, "dp_rank", None))


def _published(parallel, name: str, default):
    """A rank SGLang published in this process, or ``default`` where none was (a cache
    built outside a scheduler process: benchmarks and tests build it directly)."""
    try:
        return getattr(parallel, name, default)
    except (RuntimeError, ValueError):
        return default


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
        if cache.has_host_tier:  # locks that lapse or give way demote to host memory
            settings = dataclasses.replace(
                settings, policy=dataclasses.replace(settings.policy, host_tier=True))
            if settings.policy.host_reload_profile is None:
                logger.warning("sglang-continuum: host tier on, but no measured reload "
                               "time: the cost model prices a lapse as a prefill. Run "
                               "`sglang-continuum-profile --host-reload` and "
                               "name its file as prefill_profile in --continuum-config.")
        # Time is shared: every rank decides from the entry rank's step time.
        cache.continuum = Controller(cache, settings, capacity_tokens=capacity,
                                     shared_time=True,
                                     export_metrics=ctx.tp_rank == 0
                                     and bool(ctx.params.enable_metrics),
                                     metric_labels=_metric_labels(ctx))
        logger.info("sglang-continuum overlay active in the scheduler process (tp_rank=%d, "
                    "KV capacity %d tokens): %s", ctx.tp_rank, capacity, settings.to_json())
        return cache

    return factory
