"""Waiting-queue order: preempted first, then requests that waited longer than the age
cap (by rank; a program's first turn only after the first-turn age cap), then programs
inside their TTL, then (with ``plain="ahead"``) requests
without a program, then program FCFS; or, with ``queue_order="srpt"``, by uncached
prefill tokens before the program's first arrival within each tier (``srpt_key``).

A pure key function (like SGLang's eviction priorities): the scheduler sorts by it.
"""

from __future__ import annotations

import math
from typing import Callable

from .inference import AGENT_SHARE
from .lock_table import Program

PREEMPTED, NOT_PREEMPTED = 0, 1
OVERDUE, IN_TTL, PLAIN, NOT_IN_TTL = -1, 0, 1, 2


def queue_key(program: Program | None, arrival: float, preempted: bool,
              program_fcfs: bool = True, age_cap_s: float = math.inf,
              plain: str = "fcfs", overdue_before: float = -math.inf,
              first_overdue_before: float | None = None
              ) -> tuple[int, int, float, float]:
    """(preempted tier, TTL tier, rank time, request arrival); smaller first.

    A request that arrived before `overdue_before` (now minus the age cap: it waited
    longer than the cap) is OVERDUE, ahead of every tier but the preempted one and
    ordered by its rank among overdue requests: a turn of a program that began after
    it never goes first, holding a lock or not (its rank is at least its program's
    first arrival, later than the overdue request's arrival and so its rank).

    The rank time is the program's first arrival, but never more than `age_cap_s` before
    the request's own arrival: a request is overtaken only by turns that arrived less
    than `age_cap_s` after it (a request without a program, or a young program, cannot
    starve behind old programs). A program's first turn (no turn of it finished yet) is
    overdue only if it arrived before `first_overdue_before` (None: `overdue_before`):
    it is the program's admission, and turns of programs under way go before it for
    longer (docs/design.md, "New programs wait longer"). Without a known program (a
    plain request) the request's own arrival stands in for the program's. With `program_fcfs` off the third element
    is the request's arrival for every request, with or without a program (plain FCFS,
    as stock SGLang), but a program holding a lock still goes ahead. Otherwise a
    request without a program (`program` None) ranks by `plain`
    (config.PLAIN_REQUESTS): "fcfs" at its arrival, "aged" at its arrival minus
    `age_cap_s` (as a program that began that long ago), "ahead" before every agent
    turn that holds no lock.
    """
    tier = PREEMPTED if preempted else NOT_PREEMPTED
    if program is not None and program.turns == 0 and first_overdue_before is not None:
        overdue = arrival < first_overdue_before
    else:
        overdue = arrival < overdue_before
    if program is None:
        if plain == "ahead":
            return (tier, OVERDUE if overdue else PLAIN, -math.inf if overdue else arrival,
                    arrival)
        if not program_fcfs:  # plain FCFS: no head start over turns ranked by arrival
            return (tier, OVERDUE if overdue else NOT_IN_TTL, arrival, arrival)
        return (tier, OVERDUE if overdue else NOT_IN_TTL,
                plain_rank(arrival, plain, age_cap_s), arrival)
    if program_fcfs:
        rank = program.first_arrival
        if arrival - age_cap_s > rank:
            rank = arrival - age_cap_s
    else:
        rank = arrival
    if overdue:
        return (tier, OVERDUE, rank, arrival)
    return (tier, IN_TTL if program.locked else NOT_IN_TTL, rank, arrival)


def srpt_key(key: tuple[int, int, float, float], uncached: int | None
             ) -> tuple[int, int, int, float, float]:
    """``queue_order="srpt"``: the program order's key with the request's uncached
    prefill tokens (prompt minus its cached prefix, device or host; at least 1) put
    before the rank time. Preempted and overdue requests keep their places (an overdue
    request still goes by rank: the age cap bounds how long a long prompt waits
    behind short ones); within the lock tier and the rest, the least prefill work goes
    first and the program's first arrival breaks ties. A continuation turn, whose
    context is cached, thus goes ahead of a new program's first turn, as under stock
    shortest-prefill-first (shortest remaining work first minimises mean completion
    time), while locked turns stay ahead of unlocked ones. ``uncached`` None (not
    known) counts as 0: the program order then decides."""
    work = 0 if key[1] == OVERDUE or uncached is None else max(1, uncached)
    return (key[0], key[1], work, key[2], key[3])


def plain_rank(arrival: float, plain: str, age_cap_s: float) -> float:
    """The first arrival a request without a program id counts as, for the queue order
    and for which locks give way to it: "fcfs" its arrival, "aged" one age cap earlier,
    "ahead" before every program."""
    if plain == "ahead":
        return -math.inf
    return arrival - age_cap_s if plain == "aged" else arrival


def key_fn(lookup: Callable[[object], Program | None], config,
           plain_cap_s: float | None = None, now: float | None = None
           ) -> Callable[..., tuple]:
    """queue_key(program key, arrival, preempted) over a program table's ``lookup``
    (None for a request without a program id: ranked by ``config.plain_requests``, with
    ``plain_cap_s`` in place of the age cap when given; an unknown key is a new program,
    ranked at its own arrival). With `now`, requests that have waited longer than the
    age cap are overdue (queue_key), programs' first turns longer than the first-turn
    cap (``config.first_turn_cap_s``). The key takes the request's uncached prefill
    tokens as a fourth argument (``uncached``), used under ``config.queue_order``
    "srpt" (srpt_key) and ignored under "fcfs"; with a fifth (``matched``: the tokens
    of it found cached) the uncached tokens are ``uncached - matched`` (so a caller can
    pass both as they stand on the request)."""
    fcfs, cap, plain = config.program_fcfs, config.queue_age_cap_s, config.plain_requests
    plain_cap = cap if plain_cap_s is None else plain_cap_s
    overdue_before = -math.inf if now is None else now - cap
    first_before = -math.inf if now is None else now - config.first_turn_cap_s
    srpt = config.queue_order == "srpt"

    def key(program_key, arrival: float, preempted: bool, uncached: int | None = None,
            matched: int | None = None) -> tuple:
        program = None if program_key is None else lookup(program_key)
        if program is None:  # no program id, or a new program (its own arrival)
            k = queue_key(None, arrival, preempted, fcfs, plain_cap, plain,
                          overdue_before) if program_key is None else \
                queue_key(None, arrival, preempted, fcfs, cap, "fcfs", overdue_before,
                          first_before)
            if not srpt:
                return k
            tier, ttl_tier, rank = k[0], k[1], k[2]
        else:
            # queue_key(program, ...) and srpt_key, written out: the scheduler sorts its
            # whole queue by this every step, and the calls were much of the key's cost
            # (benchmarks/overhead, part 2). tests/unit/test_core_queue.py checks they
            # agree.
            tier = PREEMPTED if preempted else NOT_PREEMPTED
            if arrival < (first_before if program.turns == 0 else overdue_before):
                ttl_tier = OVERDUE
            else:
                ttl_tier = IN_TTL if program.locked else NOT_IN_TTL
            if fcfs:
                rank = program.first_arrival
                if arrival - cap > rank:
                    rank = arrival - cap
            else:
                rank = arrival
            if not srpt:
                return (tier, ttl_tier, rank, arrival)
        if ttl_tier == OVERDUE or uncached is None:
            return (tier, ttl_tier, 0, rank, arrival)
        if matched:
            uncached -= matched
        return (tier, ttl_tier, uncached if uncached > 1 else 1, rank, arrival)

    return key


class QueueRanks:
    """The queue key function of a policy, and the rank of requests without a program id
    (queue and pressure bound), which moves with the learned share of them that are
    agents' first turns: under "aged" they rank one age cap times (1 - share) before
    their arrival (as plain traffic at share 0, as new programs at share 1)."""

    def __init__(self, lookup: Callable[[object], Program | None], config) -> None:
        self._lookup, self._config = lookup, config
        self.share = 0.0
        self.plain_cap_s = config.queue_age_cap_s
        self.key = key_fn(lookup, config)

    def set_share(self, share: float) -> None:
        if not 0 <= share <= 1:
            raise ValueError(f"set_first_turn_share: expected a number in [0, 1], "
                             f"got {share!r}")
        if share == self.share:
            return
        self.share = share
        self.plain_cap_s = self._config.queue_age_cap_s * (1.0 - share)
        self.key = key_fn(self._lookup, self._config, self.plain_cap_s)

    def key_at(self, now: float):
        """The key function at `now`: requests waiting longer than the age cap first."""
        return key_fn(self._lookup, self._config, self.plain_cap_s, now)

    def plain_bound(self, arrival: float) -> float:
        """The first arrival a request without a program id counts as under pressure
        (which locks give way to it): its queue rank, except where such requests are
        at least as likely agents' first turns as not (AGENT_SHARE): then its arrival,
        as a new program's (it may not take the locks of programs that began before
        it, e.g. of the same wave's first turns)."""
        if self.share >= AGENT_SHARE and self._config.plain_requests == "aged":
            return arrival
        return plain_rank(arrival, self._config.plain_requests, self.plain_cap_s)
