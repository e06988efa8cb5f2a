"""Entry point of the ``sglang.srt.plugins`` group: runs once in every SGLang process."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)


def register() -> None:
    from sglang.srt.mem_cache.registry import (
        register_radix_cache_backend,
        registered_radix_cache_backends,
    )
    from sglang.srt.plugins.hook_registry import HookRegistry, HookType

    from sglang_continuum.adapter import hooks
    from sglang_continuum.adapter.cache import make_factory
    from sglang_continuum.adapter.settings import BACKEND_NAME, TESTBED_HOST_LINK_ENV, Settings

    if BACKEND_NAME in registered_radix_cache_backends():
        return  # already registered in this process
    if os.environ.get(TESTBED_HOST_LINK_ENV, "").strip():
        # A testbed run (experiments/live) paces host-tier reloads; a server started any
        # other way never imports that code.
        from sglang_continuum.launcher import testbed_link

        testbed_link.install()
    register_radix_cache_backend(BACKEND_NAME, make_factory(Settings.from_env))
    hooks.install(HookRegistry, HookType)
