"""Fixtures that start real SGLang servers (the overlay's launcher, real processes,
real HTTP on loopback). Each server is shared by the tests of one module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sglang_continuum.launcher.server import launch

LOG_DIR = Path(os.environ.get("SGLANG_CONTINUUM_TEST_LOGS", "/tmp/sglang-continuum-test-logs"))

# A small pool, so a few thousand tokens of competing prompts evict everything
# unlocked; --random-seed fixes the dummy weights so two servers compute alike.
BASE_ARGS = ["--max-total-tokens", "8192", "--random-seed", "0",
             "--continuum-status-interval", "1"]


@pytest.fixture(scope="module")
def start_server(request):
    """start_server(extra_args, overlay=True) -> Server; stopped at module end."""
    stack = []

    def start(extra=(), overlay=True, name=None):
        cm = launch([*BASE_ARGS, *extra], LOG_DIR, overlay=overlay,
                    name=name or request.module.__name__.rsplit(".", 1)[-1])
        server = cm.__enter__()
        stack.append(cm)
        return server

    yield start
    while stack:
        stack.pop().__exit__(None, None, None)
