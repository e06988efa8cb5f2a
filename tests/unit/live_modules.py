"""The scripts of experiments/live (a folder, not a package), imported for unit tests:
the folder is on sys.path only inside ``live_modules``."""

from __future__ import annotations

import importlib
import sys
from contextlib import contextmanager
from pathlib import Path

LIVE = Path(__file__).resolve().parents[2] / "experiments" / "live"


@contextmanager
def live_modules(*names: str):
    """Yields the named modules of experiments/live (one module, or a tuple of them);
    what they import lazily resolves while the block runs."""
    sys.path.insert(0, str(LIVE))
    try:
        mods = tuple(importlib.import_module(n) for n in names)
        yield mods[0] if len(mods) == 1 else mods
    finally:
        sys.path.remove(str(LIVE))


def imported(*names: str):
    """The named modules of experiments/live (one, or a tuple), for a test's own use."""
    with live_modules(*names) as mods:
        return mods
