"""How contended the KV pool is, learned from events the core already sees.

Two signals say that memory is short: a resumed turn found its context evicted (a
lapse or an LRU eviction cost it a rebuild), or a waiting request did not fit even
after LRU had evicted everything unlocked (the driver asked for a lock to give way).
The gauge is an exponentially weighted share of the later turns that came back without
a lock (a lapse, a refusal, no lock chosen) and saw either; it needs no clock and moves
once per such admission. Turns that found their lock are not sampled: a lock says
nothing about what the pool would have done without it, and counting them would hide
the contention exactly when the locks work.
"""

from __future__ import annotations


class ContentionGauge:
    """Share (0..1) of recent unlocked resumptions that met memory pressure.

    `window` sets the averaging weight (1/window per admission); `saturation` is the
    share at which memory counts as fully contended (price 0 for holding it, see
    :meth:`price`).
    """

    __slots__ = ("_alpha", "_saturation", "_level", "_pressed", "_last_hit")

    def __init__(self, window: int, saturation: float) -> None:
        self._alpha = 1.0 / window
        self._saturation = saturation
        self._level = 0.0
        self._pressed = False
        self._last_hit = True  # no admission yet: nothing to correct

    @property
    def level(self) -> float:
        return self._level

    def pressed(self) -> None:
        """A request did not fit without a lock giving way (or decode ran short)."""
        self._pressed = True

    def resumed(self) -> None:
        """A later turn of a program was admitted without a lock: one sample."""
        hit = self._pressed
        self._level += self._alpha * ((1.0 if hit else 0.0) - self._level)
        self._pressed = False
        self._last_hit = hit

    def evicted(self) -> None:
        """The turn just admitted had lost its context: count it as pressured."""
        if not self._last_hit:
            # resumed() moved the level toward 0; toward 1 instead differs by alpha.
            self._level = min(1.0, self._level + self._alpha)
            self._last_hit = True

    def price(self) -> float:
        """Shadow price of holding memory, relative to the paper's (1 = the paper's
        "one average request blocked per second held", 0 = free).

        Uncontended, the price is the paper's. As pressure grows, the memory a lock
        holds could only go to programs that program FCFS serves after the lock's
        owner (locks give way to older programs and to an idle engine), so holding
        it costs those behind less and less: at `saturation` the price is 0.
        """
        if self._saturation <= 0:
            return 0.0
        return max(0.0, 1.0 - self._level / self._saturation)
