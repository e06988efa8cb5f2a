"""What a finished turn of an inferred program (one that sent no id) may lock, and
whether it ended its program.

An inferred program is only a guess until evidence arrives. A request that continues no
finished turn starts a new inferred program; it might be an agent's first turn, or a
single-turn request that will never be continued (plain traffic beside the agents). The
rule, per finished turn:

- The output calls a tool (core/tool_detect.py): the program is an agent; lock as for
  an explicit program, and remember that it calls tools.
- No tool call, and the program called tools before: it answered instead of calling a
  tool, so its context will not be extended (the ``last_turn`` an explicit agent sends).
- No tool call, no tool seen before, and a later prompt already continued the program
  (``proven``): an agent whose tool-call format is not recognised (or a chat user who
  keeps talking); lock as for an explicit program.
- Otherwise (a first turn with no tool call): an agent's first turn or plain traffic.
  It locks with its gain weighted by the learned share of such turns that were
  continued, and only where that share is at least one half (``FirstTurns``): plain
  traffic alone locks nothing; the request ranks as a plain request (its rank moves
  with the same share, queue_order.QueueRanks).

Memory is bounded: the programs known to call tools are an LRU set of ``max_programs``
keys. Pure: no clock, no SGLang.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import NamedTuple

from .programs import ProgramKey


class InferredTurn(NamedTuple):
    lockable: bool
    last_turn: bool


class InferredPrograms:
    def __init__(self, max_programs: int = 16_384) -> None:
        if isinstance(max_programs, bool) or not isinstance(max_programs, int) \
                or max_programs < 1:
            raise ValueError(f"InferredPrograms.max_programs: expected an integer >= 1, "
                             f"got {max_programs!r}")
        self._max = max_programs
        self._tool_callers: OrderedDict[ProgramKey, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tool_callers)

    def finished(self, key: ProgramKey, proven: bool, tool: str | None) -> InferredTurn:
        """Classify a finished turn of inferred program `key` (see the module doc)."""
        callers = self._tool_callers
        if tool is not None:
            if key in callers:
                callers.move_to_end(key)
            else:
                if len(callers) >= self._max:
                    callers.popitem(last=False)
                callers[key] = None
            return InferredTurn(True, False)
        if key in callers:
            del callers[key]
            return InferredTurn(False, True)
        return InferredTurn(proven, False)


# Where requests that continued nothing are at least this likely agents' first turns,
# they are treated as such: they lock (FirstTurns.p_continue) and, under pressure, take
# only a new program's locks (queue_order.QueueRanks.plain_bound).
AGENT_SHARE = 0.5


class FirstTurns:
    """How often a request that continued nothing (an unproven first turn) is continued.

    At arrival an agent's first turn and a plain single-turn request look the same; the
    mix of the two can be learned. Each unproven turn that finishes is pending until a
    prompt continues it (``continued``: an agent's first turn) or until ``horizon_s``
    passes without one (``expire``: plain traffic, or an agent whose tool outran the
    horizon: the estimate errs toward plain, the safe side). ``share`` is the continued
    fraction of the last ``window`` outcomes under a uniform prior (one continued, one
    not: 1/2 before any evidence, so a fresh server's first wave of agents is not taken
    for plain traffic). ``p_continue`` is the share where first turns are at least as
    likely continued as not (``share >= min_share``), else 0: plain traffic alone drives
    it to 0 within a few outcomes (1/4 after two), and locks nothing. Pure: ``now`` is
    passed in; memory bounded by ``max_pending``.
    """

    def __init__(self, window: int = 64, max_pending: int = 16_384,
                 min_share: float = AGENT_SHARE) -> None:
        for name, v in (("window", window), ("max_pending", max_pending)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"FirstTurns.{name}: expected an integer >= 1, got {v!r}")
        if isinstance(min_share, bool) or not isinstance(min_share, (int, float)) \
                or not 0 <= min_share <= 1:
            raise ValueError(f"FirstTurns.min_share: expected a number in [0, 1], "
                             f"got {min_share!r}")
        self._min_share = min_share
        self._pending: OrderedDict[ProgramKey, float] = OrderedDict()
        self._max_pending = max_pending
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._continued = 0  # True entries in _outcomes
        self.share = 0.5

    def __len__(self) -> int:
        return len(self._pending)

    def finished(self, key: ProgramKey, now: float) -> None:
        """An unproven turn of `key` finished at `now`: its fate is pending."""
        self._pending.pop(key, None)
        self._pending[key] = now
        if len(self._pending) > self._max_pending:
            self._pending.popitem(last=False)
            self._outcome(False)

    def continued(self, key: ProgramKey) -> None:
        """A prompt continued `key` (a no-op unless its first turn is pending)."""
        if self._pending.pop(key, None) is not None:
            self._outcome(True)

    def expire(self, now: float, horizon_s: float) -> None:
        """Pending turns that finished more than `horizon_s` ago were not continued."""
        pending, horizon = self._pending, now - horizon_s
        while pending:
            key, at = next(iter(pending.items()))
            if at >= horizon:
                return
            del pending[key]
            self._outcome(False)

    def _outcome(self, continued: bool) -> None:
        outcomes = self._outcomes
        if len(outcomes) == outcomes.maxlen and outcomes[0]:
            self._continued -= 1
        outcomes.append(continued)
        self._continued += continued
        self.share = (self._continued + 1) / (len(outcomes) + 2)

    @property
    def p_continue(self) -> float:
        """The probability an unproven first turn's lock is used, where first turns are
        at least as likely continued as not; else 0 (no lock)."""
        return self.share if self.share >= self._min_share else 0.0
