"""Translate SGLang scheduler events into policy-core calls, and core decisions back
into tree locks. Every decision is the core's; this class only translates."""

from __future__ import annotations

import json
import logging
import time
from typing import Callable, Optional

from sglang_continuum.core import (
    ContinuumPolicy,
    HintError,
    ProgramHints,
    detect_tool,
    parse_hints,
)
from sglang_continuum.adapter.policy_config import policy_config_from_settings
from sglang_continuum.settings import Settings

logger = logging.getLogger(__name__)

_HINTS = "_continuum_hints"  # attribute set on a scheduler Req: (key, hints) or None
_ARRIVAL = "_continuum_arrival"


def program_of(req) -> Optional[tuple]:
    """(key, hints) for a request, parsed once and cached on the request."""
    cached = getattr(req, _HINTS, False)
    if cached is not False:
        return cached
    custom = getattr(req.sampling_params, "custom_params", None)
    try:
        hints = parse_hints(custom, getattr(req, "routing_key", None))
    except HintError as e:  # validated at the HTTP edge; a direct engine call may skip it
        logger.warning("request %s: ignoring invalid continuum fields: %s", req.rid, e)
        hints = None
    value = None
    if hints is not None:
        tenant = getattr(req, "cache_salt", None) or getattr(req, "extra_key", None) or ""
        value = ((tenant, hints.program_id), hints)
    setattr(req, _HINTS, value)
    return value


class Controller:
    def __init__(self, cache, settings: Settings, capacity_tokens: int,
                 export_metrics: bool = False, clock: Callable[[], float] = time.monotonic):
        self.cache = cache
        self.settings = settings
        self.clock = clock
        self.policy = ContinuumPolicy(policy_config_from_settings(settings), capacity_tokens)
        self.program_fcfs = settings.program_fcfs
        self.tokenizer = None
        self.metrics = None
        if export_metrics:
            from sglang_continuum.adapter.metrics import PrometheusExporter

            self.metrics = PrometheusExporter()
        # Until a program request is queued, sort_waiting returns at once: a server
        # that only sees stock traffic then pays no per-step scan of its queue.
        self._programs_seen = False
        self._next_status = 0.0
        self._next_metrics = 0.0
        self._last_status = None

    # --- scheduler lifecycle -------------------------------------------------
    def attach(self, scheduler) -> None:
        self.tokenizer = getattr(scheduler, "tokenizer", None)

    def on_queued(self, req, is_retracted: bool) -> None:
        if is_retracted:
            return  # keeps its first arrival; queue order puts it first anyway
        now = self.clock()
        setattr(req, _ARRIVAL, now)
        prog = program_of(req)
        if prog is not None:
            self._programs_seen = True
            self.policy.on_arrival(prog[0], now)

    def on_admitted(self, req) -> None:
        prog = program_of(req)
        if prog is None:
            return
        now = self.clock()
        handle = self.policy.on_admitted(prog[0], now)
        if handle is not None:
            self.cache.unlock(handle)
        elif req.prefix_len * 2 < len(req.origin_input_ids) and self.policy.turns_done(prog[0]):
            # A later turn whose context was evicted: its wait feeds T of the cost model.
            self.policy.record_queue_delay(now - getattr(req, _ARRIVAL, now))

    def on_aborted(self, req) -> None:
        prog = program_of(req)
        if prog is not None and (handle := self.policy.drop(prog[0])) is not None:
            self.cache.unlock(handle)

    def on_release(self, req, *, checkpointed: bool) -> None:
        """A request gave its KV row back. Finished turns of programs may leave a lock."""
        prog = program_of(req)
        if prog is None or not req.finished():
            return  # stock request, or a retraction (the request will come back)
        key, hints = prog
        now = self.clock()
        from sglang.srt.managers.schedule_batch import FINISH_ABORT

        if isinstance(req.finished_reason, FINISH_ABORT) or not checkpointed:
            if (handle := self.policy.drop(key)) is not None:
                self.cache.unlock(handle)
            return
        tool = hints.tool or self._detect_tool(req)
        tokens = len(req.origin_input_ids) + len(req.output_ids)
        decision = self.policy.on_finish(key, now, context_tokens=tokens, tool=tool,
                                         last_turn=hints.last_turn, ttl_hint_s=hints.ttl_s)
        if decision.reason == "last_turn":
            # The program is over: a lock a concurrent turn of it set goes too.
            if (handle := self.policy.drop(key)) is not None:
                self.cache.unlock(handle)
            return
        if decision.ttl_s > 0 and req.last_node is not None \
                and not self.cache.is_root(req.last_node):
            handle = self.cache.lock(req.last_node)
            replaced = self.policy.set_lock(key, now, decision.ttl_s, tokens, handle)
            if replaced is not None:
                self.cache.unlock(replaced)

    def _detect_tool(self, req) -> Optional[str]:
        if self.tokenizer is None or not req.output_ids:
            return None
        try:
            return detect_tool(self.tokenizer.decode(req.output_ids[-512:]))
        except Exception:  # a tokenizer that cannot decode noise is not our failure
            return None

    # --- every scheduler step -------------------------------------------------
    def tick(self) -> None:
        now = self.clock()
        for _key, handle in self.policy.expired(now):
            self.cache.unlock(handle)
        if self.metrics is not None and now >= self._next_metrics:
            self._next_metrics = now + 0.25  # an idle scheduler still wakes each second
            self.metrics.update(self.policy.snapshot())
        if self.settings.status_interval_s and now >= self._next_status:
            self._next_status = now + self.settings.status_interval_s
            self._log_status()

    def relieve_pressure(self, head=None, engine_idle: bool = True) -> bool:
        """Release one lock (youngest program first) for the waiting request `head`
        (None: decode pressure). False when no lock may give way."""
        if head is None:
            released = self.policy.release_for_pressure()
        else:
            prog = program_of(head)
            released = self.policy.release_for_pressure(
                prog[0] if prog else None, getattr(head, _ARRIVAL, None), engine_idle)
        if released is None:
            return False
        self.cache.unlock(released[1])
        return True

    def sort_waiting(self, waiting_queue: list) -> None:
        if not self._programs_seen or not self.program_fcfs or len(waiting_queue) < 2:
            return
        if not any(program_of(r) for r in waiting_queue):
            return  # no program requests: SGLang's own order stands
        now = self.clock()
        key_fn = self.policy.queue_key_fn()

        def key(r):
            prog = getattr(r, _HINTS, False)  # program_of's cache, read inline: per step
            if prog is False:
                prog = program_of(r)
            return key_fn(prog[0] if prog else None, getattr(r, _ARRIVAL, now),
                          bool(r.is_retracted))

        # Runs every scheduler step: list.sort is stable (equal keys keep SGLang's
        # order) and calls key once per request, with no decorated copies.
        waiting_queue.sort(key=key)

    def forget_all_locks(self) -> None:
        # The tree is being reset: its nodes (and our TreeLocks on them) are gone.
        while self.policy.release_for_pressure() is not None:
            pass

    def _log_status(self) -> None:
        snap = self.policy.snapshot()
        line = json.dumps(snap.to_dict(), sort_keys=True)
        if line != self._last_status:
            self._last_status = line
            logger.info("continuum status %s", line)
