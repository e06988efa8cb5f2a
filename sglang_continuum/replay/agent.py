"""One program played as a real agent: call, wait for the tool, extend the context,
call again. Everything with side effects (HTTP, time) is injected."""

from __future__ import annotations

import logging
import re
import threading
from typing import Callable, Sequence

from sglang_continuum.workload import Program

from .client import Reply, Sender
from .clock import Clock
from .prompts import Context
from .results import ProgramResult, TurnResult

logger = logging.getLogger(__name__)

_BAD_TOOL_CHARS = re.compile(r"[^A-Za-z0-9_.:/-]")


def tool_hint(name: str | None) -> str | None:
    """A trace's tool name in the overlay's accepted syntax ``[A-Za-z0-9_.:/-]{1,64}``."""
    if not name:
        return None
    return _BAD_TOOL_CHARS.sub("_", name)[:64]


def custom_params(program_id: str, last: bool, tool: str | None) -> dict:
    fields = {"program_id": program_id, "last_turn": last}
    if tool and not last:
        fields["tool"] = tool
    return fields


def _turn_result(i: int, start: float, end: float, sent: int, reply: Reply) -> TurnResult:
    meta = reply.meta
    queue = meta.get("queue_time")
    return TurnResult(
        index=i, start_s=start, ttft_s=reply.ttft_s, e2e_s=end - start,
        queue_s=float(queue) if queue is not None else reply.ttft_s,
        queue_source="server" if queue is not None else "ttft", sent_tokens=sent,
        prompt_tokens=int(meta.get("prompt_tokens", sent)),
        cached_tokens=int(meta.get("cached_tokens", 0)),
        completion_tokens=int(meta.get("completion_tokens", len(reply.output_ids))),
        server_e2e_s=meta.get("e2e_latency"), retractions=int(meta.get("num_retractions") or 0))


def run_program(program: Program, send: Sender, clock: Clock, result: ProgramResult,
                stop: threading.Event, t0: float = 0.0, seed: int = 0,
                shared: Sequence[int] = (), tool_hints: bool = True,
                on_turn: Callable[[TurnResult], None] | None = None) -> ProgramResult:
    """Play ``program``; fills ``result`` as turns finish (partial on stop or error)."""
    ctx = Context(program.program_id, seed, shared)
    ids = ctx.first(program.turns[0].prompt)
    n = len(program.turns)
    try:
        for i, turn in enumerate(program.turns):
            if stop.is_set():
                result.interrupted = True
                return result
            last = i == n - 1
            fields = custom_params(program.program_id, last,
                                   tool_hint(turn.tool) if tool_hints else None)
            start = clock.now()
            reply = send(ids, turn.output, fields)
            tr = _turn_result(i, start - t0, clock.now() - t0, len(ids), reply)
            result.turns.append(tr)
            if on_turn is not None:
                on_turn(tr)
            if last:
                break
            if not clock.sleep(turn.gap_s, stop):
                result.interrupted = True
                return result
            ids = ctx.next(reply.output_ids, program.turns[i + 1].prompt)
        result.end_s = clock.now() - t0
    except Exception as e:  # one failed program must not stop the others
        logger.warning("program %s failed at turn %d: %s", program.program_id,
                       len(result.turns), e)
        result.error = f"{type(e).__name__}: {e}"
    return result
