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
- ``"fits"``: no lock while the live programs' contexts fit what the tiers hold: the sum
  of every live program's latest context (``LiveContexts``) is at most
  ``host_fit_share`` of the tiers' capacity (``core.turns.HostTier.host_capacity_tokens``);
  or, as "room", while the host pool's free slots could take the context. The host pool evicts its least recently used copies first, so
  where it holds every live context, what it evicts is finished programs' copies and a
  paused program's next turn reloads its own. Shared prefixes count once per program
  (an overcount: the rule locks more, not less).
- ``"learned"``: no lock while the turns that came back without a lock (their lock
  lapsed or gave way and was demoted, or none was set) found their context (on the
  device or the host) at least ``host_hit_share`` of the time, over the last
  ``host_hit_window`` of them. It starts locking, as "always"; while it locks, every
  ``host_probe_every``-th turn is left unlocked, so that it learns even where no lock
  gives way, and sees a host tier that has room again.

Pure and deterministic: the inputs are the turns' cached-token counts and context sizes,
the host pool's size and free slots, the same on every TP rank, a turn counter, and the
shared step time (``now``) that every rank's decisions read.
"""

from __future__ import annotations

from collections import OrderedDict, deque

HOST_LOCKS = ("always", "room", "fits", "learned")


class HostLockRule:
    def __init__(self, mode: str, share: float, window: int, probe_every: int,
                 fit_share: float = 0.9) -> None:
        self.mode = mode  # one of HOST_LOCKS (PolicyConfig checks it)
        self._fit_share = fit_share
        self._share = share
        self._found: deque[bool] = deque(maxlen=window)
        self._probe_every = probe_every
        self._decisions = 0

    def skips_lock(self, context_tokens: int, host_free: float | None,
                   live_tokens: float = 0.0, host_total: float | None = None) -> bool:
        """Should this finished turn (with a host tier) go unlocked? `live_tokens`:
        the live programs' contexts, this turn's included ("fits"); `host_total`: what
        the tiers hold together (None: unknown, "fits" reads the free slots alone)."""
        if self.mode in ("room", "fits") and host_free is not None \
                and host_free >= context_tokens:
            return True
        if self.mode == "fits":
            return host_total is not None and live_tokens <= self._fit_share * host_total
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


class LiveContexts:
    """The latest context of every live program, and their sum (host_locks "fits").

    A program is live from its first turn's arrival until its last turn (`drop`) or
    until `horizon_s` passes without a finished turn. A program whose first turn has not
    finished yet counts as the mean of the known contexts (its own size is not known
    before it finishes; left out, the programs that finish first would see a working
    set of only themselves). At most `max_programs` are kept (the least recently
    updated go first). One table in update order; O(1) per turn, amortised.
    """

    def __init__(self, horizon_s: float, max_programs: int) -> None:
        self._horizon = horizon_s
        self._max = max_programs
        # key -> (context tokens, or None before its first finished turn; update time)
        self._live: OrderedDict[object, tuple[int | None, float]] = OrderedDict()
        self._sum = 0
        self._known = 0

    def __len__(self) -> int:
        return len(self._live)

    def arrived(self, key: object, now: float) -> None:
        """A turn of `key` arrived: a program not seen yet is live from now."""
        entry = self._live.get(key)
        if entry is None or entry[0] is None:
            self._put(key, None, now)

    def update(self, key: object, tokens: int, now: float) -> None:
        """`key` finished a turn at `now` with `tokens` of context."""
        self._put(key, tokens, now)

    def drop(self, key: object) -> None:
        """`key` ended (or was forgotten): its context is no longer live."""
        entry = self._live.pop(key, None)
        if entry is not None and entry[0] is not None:
            self._sum -= entry[0]
            self._known -= 1

    def total(self, now: float) -> float:
        """The live contexts' tokens at `now` (programs idle past the horizon leave)."""
        while self._live:
            key, (_, since) = next(iter(self._live.items()))
            if now - since <= self._horizon:
                break
            self.drop(key)
        if not self._known:
            return 0.0
        return self._sum + (len(self._live) - self._known) * self._sum / self._known

    def _put(self, key: object, tokens: int | None, now: float) -> None:
        self.drop(key)
        self._live[key] = (tokens, now)
        if tokens is not None:
            self._sum += tokens
            self._known += 1
        while len(self._live) > self._max:  # the least recently updated
            self.drop(next(iter(self._live)))
