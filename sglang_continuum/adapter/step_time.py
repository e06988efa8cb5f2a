"""One time reading per scheduler step, taken on the entry rank and shared with every
rank through the step's own inputs.

With ``--tp-size N`` (and pipeline stages, and DP attention groups) every rank runs its
own scheduler, radix tree and Controller, and SGLang requires their tree operations to
agree. A lock that lapses a step earlier on one rank than on another gives the ranks
different evictable sizes, batches and collectives. So no rank reads its own clock for
a decision: the entry rank (pp 0, attn_tp 0, attn_cp 0), where SGLang polls its own
timeouts, appends a :class:`StepTime` to the aborts it broadcasts with the step's
requests (``local_reqs``); every rank, the entry rank included, takes it out of the
list before the requests are dispatched, and the Controller decides the whole step
from it. Pipeline stages after the first receive the same list relayed (the marker
travels with it), and DP attention carries it on each group's work channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True, slots=True)
class StepTime:
    """The entry rank's clock (seconds, its monotonic epoch) at the start of a step."""

    now: float

    def __post_init__(self) -> None:
        if not isinstance(self.now, float) or self.now != self.now:
            raise ValueError(f"StepTime.now: expected a float, got {self.now!r}")


def split(recv_reqs: list) -> tuple[Optional[float], list]:
    """The step's shared time (None: no marker arrived this step) and the inputs
    without markers. The list passed in is left as it was: pipeline stages relay it."""
    if not recv_reqs:
        return None, recv_reqs
    now, rest = None, []
    for item in recv_reqs:
        if type(item) is StepTime:
            now = item.now if now is None else max(now, item.now)
        else:
            rest.append(item)
    if now is None:
        return None, recv_reqs
    return now, rest
