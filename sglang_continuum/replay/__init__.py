"""Trace replay client: plays agent programs against ANY SGLang server over HTTP.

Each program runs as a real agent: turn ``i + 1``'s prompt is turn ``i``'s prompt, the
server's output ids and tool-result ids (``prompts.Context``); outputs have fixed
lengths (``ignore_eos``); the (scaled) tool gap is slept between turns; ``program_id``,
``last_turn`` (and the tool name) ride in ``custom_params``.

- :func:`replay` (``run.py``): URL + programs + load -> results dict; :func:`save`.
- :class:`Replay` (``driver.py``) with :class:`Poisson` / :class:`Concurrency` loads,
  injected :class:`Clock` (``RealClock``, ``FakeClock``) and sender (``HttpSender``).
- :func:`summarize` (``results.py``); ``report.py``: markdown table and PNG plots.
- CLI: ``python -m sglang_continuum.replay --help``.
"""

from .client import HttpSender, Reply, SendError
from .clock import Clock, FakeClock, RealClock
from ..workload.arrivals import poisson_arrivals
from .driver import Concurrency, Poisson, Replay
from .prompts import Context
from .results import ProgramResult, TurnResult, summarize
from .run import replay, save

__all__ = [
    "Clock", "Concurrency", "Context", "FakeClock", "HttpSender", "Poisson", "ProgramResult",
    "RealClock", "Replay", "Reply", "SendError", "TurnResult", "poisson_arrivals", "replay",
    "save", "summarize",
]
