"""Build SGLang's default radix cache and the overlay's, standalone, on the CPU.

Both go through the same SGLang entry point the scheduler uses
(``create_unified_radix_cache`` on a ``TreeCacheBuildContext``) over a real
``TokenToKVPoolAllocator`` and a (tiny: one layer, one head) ``MHATokenToKVPool``.
The overlay's is built by the factory registered as ``--radix-cache-backend continuum``,
so it carries the Controller exactly as in the server.
"""

from __future__ import annotations

BACKENDS = ("stock", "overlay")
_ready = None  # the ServerArgs SGLang's module state was initialised with


def _init_sglang():
    global _ready
    if _ready:
        return _ready
    from sglang.srt.server_args import ServerArgs, set_global_server_args_for_scheduler

    _ready = ServerArgs(model_path="dummy", page_size=1)
    set_global_server_args_for_scheduler(_ready)
    return _ready


def build(backend: str, pool_tokens: int, settings=None):
    """(cache, allocator) for `backend` ("stock" or "overlay") over a fresh pool."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}: expected one of {BACKENDS}")
    server_args = _init_sglang()
    import torch
    from sglang.srt.mem_cache.allocator import TokenToKVPoolAllocator
    from sglang.srt.mem_cache.cache_init_params import CacheInitParams
    from sglang.srt.mem_cache.memory_pool import MHATokenToKVPool, ReqToTokenPool
    from sglang.srt.mem_cache.registry import TreeCacheBuildContext, create_unified_radix_cache

    req_pool = ReqToTokenPool(size=4, max_context_len=4, device="cpu",
                              enable_memory_saver=False)
    kv = MHATokenToKVPool(size=pool_tokens, page_size=1, dtype=torch.bfloat16, head_num=1,
                          head_dim=8, layer_num=1, device="cpu", enable_memory_saver=False)
    allocator = TokenToKVPoolAllocator(size=pool_tokens, dtype=torch.bfloat16, device="cpu",
                                       kvcache=kv, need_sort=False)
    params = CacheInitParams(disable=False, req_to_token_pool=req_pool,
                             token_to_kv_pool_allocator=allocator, page_size=1)
    ctx = TreeCacheBuildContext(
        server_args=server_args, params=params, is_hybrid_swa=False,
        is_hybrid_ssm=False, enable_hierarchical_cache=False, disable_radix_cache=False,
        tp_worker=None, model_config=None, tp_size=1, tp_rank=0, tp_group=None)
    if backend == "stock":
        return create_unified_radix_cache(ctx), allocator
    from sglang_continuum.adapter.cache import ContinuumRadixCache, make_factory
    from sglang_continuum.adapter.settings import Settings

    cache = make_factory(lambda: settings or Settings())(ctx)
    if not isinstance(cache, ContinuumRadixCache) or cache.continuum is None:
        raise RuntimeError("the continuum factory did not attach its Controller")
    return cache, allocator
