"""What the cache bench calls where SGLang's scheduler would run the overlay's hooks.

- :class:`NoHooks`: stock SGLang (the hooks find no Controller and return).
- :class:`ControllerHooks`: the overlay's Controller, as ``adapter/hooks.py`` calls it.
  With ``record`` it also logs, per call, which program locks appeared or went and the
  queue order it chose (bookkeeping outside the timed region).
- :class:`ReplayHooks`: SGLang's default cache with the overlay's lock schedule replayed
  as plain ``TreeLock`` pins, and its queue order: the trees stay identical to the
  overlay's, so a ratio against it is the cost of the overlay's code alone.
"""

from __future__ import annotations


class NoHooks:
    def tick(self) -> None:
        pass

    def queued(self, req) -> None:
        pass

    def sort(self, waiting: list) -> None:
        pass

    def admitted(self, req) -> None:
        pass

    def relieve(self, head, engine_idle: bool) -> bool:
        """One lock gives way for the waiting request `head` (hooks.around_add_one_req)."""
        return False

    def release_begin(self):
        """Before cache.on_release (which, in the overlay, may set the TTL lock)."""
        return None

    def released(self, req, token) -> None:
        """After cache.on_release; `token` is what release_begin returned."""


class ControllerHooks(NoHooks):
    def __init__(self, ctl, record: list | None = None):
        self.ctl, self.record = ctl, record

    def _locks(self) -> dict:
        return {k: id(lock.handle) for k, lock in self.ctl.policy._locks._locks.items()}

    def _log(self, before: dict | None, order: list | None = None) -> None:
        if self.record is None:
            return
        after = self._locks()
        gone = [k for k, h in before.items() if after.get(k) != h]
        new = [k for k, h in after.items() if before.get(k) != h]
        self.record.append((gone, new, order))

    def _before(self):
        return self._locks() if self.record is not None else None

    def tick(self) -> None:
        b = self._before()
        self.ctl.tick()
        self._log(b)

    def queued(self, req) -> None:
        self.ctl.on_queued(req, False)

    def sort(self, waiting: list) -> None:
        self.ctl.sort_waiting(waiting)
        if self.record is not None:
            self.record.append(([], [], [r.rid for r in waiting]))

    def admitted(self, req) -> None:
        b = self._before()
        self.ctl.on_admitted(req)
        self._log(b)

    def relieve(self, head, engine_idle: bool) -> bool:
        b = self._before()
        ok = self.ctl.relieve_pressure(head, engine_idle)
        self._log(b)
        return ok

    def release_begin(self):
        return self._before()

    def released(self, req, token) -> None:
        self._log(token)


class ReplayHooks(NoHooks):
    """Replays a ControllerHooks record against a stock cache (see the module doc)."""

    def __init__(self, cache, record: list):
        self.cache, self.record, self.i = cache, record, 0
        self.pins: dict = {}

    def _next(self):
        entry = self.record[self.i]
        self.i += 1
        return entry

    def _apply(self, req=None) -> bool:
        gone, new, _ = self._next()
        for k in gone:
            self.cache.unlock(self.pins.pop(k))
        for k in new:
            if req is None or req.last_node is None:
                raise RuntimeError(f"replay out of step: lock of {k} outside a release")
            self.pins[k] = self.cache.lock(req.last_node)
        return bool(gone or new)

    def tick(self) -> None:
        self._apply()

    def sort(self, waiting: list) -> None:
        order = self._next()[2]
        pos = {rid: i for i, rid in enumerate(order)}
        waiting.sort(key=lambda r: pos[r.rid])

    def admitted(self, req) -> None:
        self._apply()

    def relieve(self, head, engine_idle: bool) -> bool:
        return self._apply()

    def released(self, req, token) -> None:
        self._apply(req)
