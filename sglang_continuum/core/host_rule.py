"""Whether a finished turn locks its context where a host tier could keep it instead
(``PolicyConfig.host_locks``; docs/design.md, "the host pool's room as the regime
signal").

Where the host pool holds every paused program's context, a lock buys no hit (the next
turn reloads from host memory at a fraction of a rebuild) and keeps device memory from
the requests that wait for it: live, locks there cost the tail and nothing else. Where
the host pool is too small, a context left unlocked is dropped and rebuilt. The rule
tells the two apart:

- ``"always"``: lock as without a host tier (the default).
- ``"room"``: no lock while the host pool's free slots could take the context.
- ``"learned"``: no lock while the turns that came back without a lock (their lock
  lapsed or gave way and was demoted, or none was set) found their context (on the
  device or the host) at least ``host_hit_share`` of the time, over the last
  ``host_hit_window`` of them. It starts locking, as "always"; while it locks, every
  ``host_probe_every``-th turn is left unlocked, so that it learns even where no lock
  gives way, and sees a host tier that has room again.

Pure and deterministic: the inputs are the turns' cached-token counts, the same on every
TP rank, and a turn counter, no clock.
"""

from __future__ import annotations

from collections import deque

HOST_LOCKS = ("always", "room", "learned")


class HostLockRule:
    def __init__(self, mode: str, share: float, window: int, probe_every: int) -> None:
        self.mode = mode  # one of HOST_LOCKS (PolicyConfig checks it)
        self._share = share
        self._found: deque[bool] = deque(maxlen=window)
        self._probe_every = probe_every
        self._decisions = 0

    def skips_lock(self, context_tokens: int, host_free: float | None) -> bool:
        """Should this finished turn (with a host tier) go unlocked?"""
        if self.mode == "room":
            return host_free is not None and host_free >= context_tokens
        if self.mode != "learned":
            return False
        self._decisions += 1
        if self._decisions % self._probe_every == 0:
            return True
        if len(self._found) * 2 < self._found.maxlen:
            return False  # too little learned: lock
        return self.hit_share() >= self._share

    def record(self, found: bool) -> None:
        """A later turn of a program came back without a lock: did it find its
        context?"""
        self._found.append(found)

    def hit_share(self) -> float:
        """The learned share (1.0 before any sample)."""
        return sum(self._found) / len(self._found) if self._found else 1.0
