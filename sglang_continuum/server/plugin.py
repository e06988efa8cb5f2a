"""Entry point of the ``sglang.srt.plugins`` group: runs once in every SGLang process."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def register() -> None:
    from sglang.srt.mem_cache.registry import (
        register_radix_cache_backend,
        registered_radix_cache_backends,
    )
    from sglang.srt.plugins.hook_registry import HookRegistry, HookType

    from sglang_continuum.adapter import hooks
    from sglang_continuum.adapter.cache import make_factory
    from sglang_continuum.server import testbed_link
    from sglang_continuum.server.settings import BACKEND_NAME, Settings

    if BACKEND_NAME in registered_radix_cache_backends():
        return  # already registered in this process
    testbed_link.install()  # experiments/live only: a no-op unless its variable is set
    register_radix_cache_backend(BACKEND_NAME, make_factory(Settings.from_env))
    hooks.install(HookRegistry, HookType)
