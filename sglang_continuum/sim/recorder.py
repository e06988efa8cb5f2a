"""Records the core calls a simulation makes, for conformance with the adapter path.

``RecordingPolicy(core)`` forwards to a real ContinuumPolicy and appends
``(method, args, result)`` for every state-changing call; :func:`replay` feeds the
same calls to a fresh policy and returns its results, which must be identical.
"""

from __future__ import annotations

from ..core import ContinuumPolicy

RECORDED = ("on_arrival", "on_admitted", "on_finish", "set_lock", "expired",
            "release_for_pressure", "drop", "record_queue_delay", "set_first_turn_share",
            "resumed_unlocked", "set_host_capacity")


class RecordingPolicy:
    def __init__(self, inner: ContinuumPolicy):
        self.inner = inner
        self.log: list[tuple[str, tuple, object]] = []

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if name not in RECORDED:
            return attr

        def call(*args):
            result = attr(*args)
            self.log.append((name, args, result))
            return result
        return call


def replay(log: list[tuple[str, tuple, object]], fresh: ContinuumPolicy) -> list[object]:
    """Results of replaying ``log``'s calls, in order, on ``fresh``."""
    return [getattr(fresh, name)(*args) for name, args, _ in log]
