"""Translate SGLang scheduler events into policy-core calls, and core decisions back
into tree locks. Every decision is the core's; this class only translates."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import operator
import time
from dataclasses import dataclass
from itertools import starmap
from typing import Callable, Optional

from sglang_continuum.core import (
    Arrival,
    ContinuumPolicy,
    HintError,
    ProgramHints,
    ProgramInference,
    ProgramKey,
    detect_tool,
    parse_hints,
    turns,
)
from sglang_continuum.adapter import feedback
from sglang_continuum.adapter.gate import gate_for, output_budget
from sglang_continuum.adapter.settings import Settings
from sglang_continuum.core.tenants import tenant

logger = logging.getLogger(__name__)

_HINTS = "_continuum_hints"  # attribute set on a scheduler Req: its RequestProgram or None
_ARRIVAL = "_continuum_arrival"
_LOCK_HIT = "_continuum_lock_hit"  # the request consumed its program's lock (feedback)
_QUEUE_KEY = "_continuum_queue_key"  # RequestProgram.queue_key, set when queued (the sort)
_TOKENS = "_continuum_tokens"  # prompt and output tokens when queued (the sort's uncached)
# A waiting request's sort inputs, read in C (sort_waiting): its program's queue key, its
# arrival, whether SGLang preempted it, its tokens and the prefix SGLang matched.
_SORT_FIELDS = operator.attrgetter(_QUEUE_KEY, _ARRIVAL, "is_retracted", _TOKENS,
                                   "num_matched_prefix_tokens")
_UNPARSED = object()


@dataclass(frozen=True, slots=True)
class RequestProgram:
    """The agent program a scheduler request is a turn of."""

    key: ProgramKey  # (tenant, program_id)
    hints: ProgramHints
    inferred: bool = False  # no id sent: the key comes from core/inference.py
    # An inferred program is proven once a prompt continued it: until then its request
    # ranks as a plain request and locks nothing unless it calls a tool.
    proven: bool = True

    @property
    def queue_key(self) -> Optional[ProgramKey]:
        """The key the queue order and the pressure rule see (None: a plain request)."""
        return self.key if self.proven else None


def program_of(req) -> Optional[RequestProgram]:
    """The program of a request (None: a plain request), parsed once and cached on it."""
    cached = getattr(req, _HINTS, _UNPARSED)
    if cached is not _UNPARSED:
        return cached
    custom = getattr(req.sampling_params, "custom_params", None)
    try:
        hints = parse_hints(custom, getattr(req, "routing_key", None),
                            getattr(req, "session_id", None))
    except HintError as e:  # validated at the HTTP edge; a direct engine call may skip it
        logger.warning("request %s: ignoring invalid continuum fields: %s", req.rid, e)
        hints = None
    value = None
    if hints is not None:
        value = RequestProgram((tenant_of(req), hints.program_id), hints)
    setattr(req, _HINTS, value)
    return value


def tenant_of(req) -> str:
    """The request's tenant (core/tenants.py): its cache_salt and extra_key (which holds
    the LoRA id), bounded in size."""
    return tenant(getattr(req, "cache_salt", None), getattr(req, "extra_key", None))


class Controller:
    def __init__(self, cache, settings: Settings, capacity_tokens: int,
                 export_metrics: bool = False, clock: Callable[[], float] = time.monotonic,
                 metric_labels: Optional[dict] = None, shared_time: bool = False):
        """`clock`: this process's clock. With `shared_time` (a server: adapter/cache.py)
        it is read only on the entry rank, to stamp each step's StepTime
        (adapter/step_time.py), and every decision takes the step's shared time from
        on_step_time; without it (one process, tests) every event reads it."""
        self.cache = cache
        self.settings = settings
        self.ended_dropped_tokens = 0  # drop_ended: device KV given up at programs' ends
        self.clock = clock
        self.shared_time = shared_time
        self._step_now = 0.0  # the last shared step time; never moves back
        self.policy = ContinuumPolicy(settings.policy, capacity_tokens)
        self.inference = ProgramInference(settings.first_turns == "learned") \
            if settings.infer_programs else None
        turns.start(self.policy, self.inference, cache)
        # The admission gate (default "device-only"; None: off)
        self.gate = gate_for(settings.admission_gate, capacity_tokens,
                             turns.host_capacity(cache), settings.policy.max_ttl_s)
        self.program_fcfs = settings.policy.program_fcfs
        # queue_order "srpt" orders by uncached prefill tokens (sort_waiting)
        self.srpt = settings.policy.queue_order == "srpt"
        # whether sort_waiting replaces SGLang's order (else it keeps it: locks only)
        self.ordered = self.program_fcfs or self.srpt
        self.tokenizer = None
        self.tool_names = None  # SGLang's tool-call detector (attach), or None
        self.metrics = None
        if export_metrics:
            from sglang_continuum.adapter.metrics import PrometheusExporter

            self.metrics = PrometheusExporter(metric_labels)
        # Until a program request is queued, sort_waiting returns at once: a server
        # that only sees plain traffic then pays no per-step scan of its queue.
        self._programs_seen = False
        self._next_status = 0.0
        self._next_metrics = 0.0
        self._last_status = None

    # --- scheduler lifecycle -------------------------------------------------
    def attach(self, scheduler) -> None:
        from sglang_continuum.adapter.tool_names import tool_names_for

        self.tokenizer = getattr(scheduler, "tokenizer", None)
        # --tool-call-parser NAME: SGLang's detector names tools first, our rules after.
        self.tool_names = tool_names_for(
            getattr(getattr(scheduler, "server_args", None), "tool_call_parser", None),
            self.tokenizer)

    def now(self) -> float:
        """The time every decision of this step uses: the step's shared time (identical
        on every rank), or this process's clock when time is not shared."""
        return self._step_now if self.shared_time else self.clock()

    def on_step_time(self, now: float) -> None:
        """The entry rank's time of the step whose inputs are being dispatched. A step
        with no marker (input deferred during a pause) keeps the last one."""
        if now > self._step_now:
            self._step_now = now

    def on_queued(self, req, is_retracted: bool) -> None:
        # What the queue's sort reads of a waiting request (its output so far too, for
        # one SGLang preempted: it prefills that again)
        setattr(req, _TOKENS, len(req.origin_input_ids) + len(req.output_ids))
        if is_retracted:
            return  # keeps its first arrival; queue order puts it first anyway
        now = self.now()
        setattr(req, _ARRIVAL, now)
        prog = program_of(req)
        if prog is not None:
            turns.arrive(self.policy, prog.key, now)
        elif self.inference is not None:
            prog = self._infer(req, now)
        setattr(req, _QUEUE_KEY, None if prog is None else prog.queue_key)
        # An unproven request sorts as a plain one: until a proven program's request is
        # queued, sort_waiting keeps returning at once (plain traffic pays no scan).
        self._programs_seen = self._programs_seen or (prog is not None and prog.proven)
        if self.gate is not None and prog is not None and prog.queue_key is not None:
            self.gate.arrived(prog.key, now)  # its tool returned: no longer paused

    def on_admitted(self, req) -> None:
        prog = program_of(req)
        if prog is None:
            return
        now = self.now()
        hit = turns.admit(self.policy, self.cache, prog.key, now,
                          waited_s=now - getattr(req, _ARRIVAL, now),
                          cached_tokens=req.prefix_len, input_tokens=len(req.origin_input_ids),
                          preempted=bool(getattr(req, "is_retracted", False)))
        if hit:
            setattr(req, _LOCK_HIT, True)
        if self.gate is not None and prog.queue_key is not None:
            self.gate.started(prog.key, len(req.origin_input_ids) + output_budget(req), now)

    def on_aborted(self, req) -> None:
        # A request refused at the queue's door (queue full, priority refused: a
        # retryable 503) was never queued: its program is alive, its lock stays.
        if not hasattr(req, _ARRIVAL):
            return
        prog = program_of(req)
        if prog is not None:
            turns.drop(self.policy, self.cache, prog.key)
            if self.gate is not None:
                self.gate.dropped(prog.key)

    def gate_holds(self, req, holding: bool, idle: bool = False) -> bool:
        """The admission gate passes over this waiting request this step (a new
        program's first turn, or in mode "park" a resident program's later turn; never
        one SGLang preempted; `holding`: a new program was already passed over this
        step; `idle`: nothing runs and nothing was admitted yet this pass: only then
        do programs paused past the learned horizon (paused_horizon_s) stop counting, so a
        busy engine never lets one in early and an idle one is never kept idle by a
        client that did not mark its last turn). A later turn of a program that left
        the resident table is not held: it joins the table again."""
        prog = program_of(req)
        if prog is None or prog.queue_key is None or getattr(req, "is_retracted", False):
            return False
        paused_s = self.policy.paused_horizon_s() if idle else math.inf
        if self.policy.turns_done(prog.key) > 0:  # mode "park" may hold a resident's turn
            return self.gate.parks(prog.key, len(req.origin_input_ids) + output_budget(req),
                                   self.now(), self.policy.contention, paused_s)
        return self.gate.holds(prog.queue_key, len(req.origin_input_ids), holding,
                               self.now(), self.policy.contention, paused_s)

    def on_release(self, req, *, checkpointed: bool) -> None:
        """A request gave its KV row back. Finished turns of programs may leave a lock."""
        prog = program_of(req)
        if prog is None or not req.finished():
            if prog is None and req.finished():  # a plain request: say so in its response
                feedback.attach(req, feedback.report(None, None, False, 0.0, 0, None))
            return  # a plain request, or a retraction (the request will come back)
        key, hints = prog.key, prog.hints
        now = self.now()
        from sglang.srt.managers.schedule_batch import FINISH_ABORT

        if isinstance(req.finished_reason, FINISH_ABORT) or not checkpointed:
            turns.drop(self.policy, self.cache, key)
            if self.gate is not None:
                self.gate.dropped(key)
            return
        node = req.last_node
        target = None if node is None or self.cache.is_root(node) else node
        context_tokens = len(req.origin_input_ids) + len(req.output_ids)
        tool = hints.tool or self._detect_tool(req)
        if prog.inferred:
            decision = turns.finish_inferred(
                self.policy, self.cache, self.inference, Arrival(key, prog.proven), now,
                prompt=req.origin_input_ids, output=req.output_ids,
                context_tokens=context_tokens, tool=tool, target=target)
        else:
            decision = turns.finish(self.policy, self.cache, key, now,
                                    context_tokens=context_tokens, tool=tool,
                                    last_turn=hints.last_turn, ttl_hint_s=hints.ttl_s,
                                    target=target)
        locked = context_tokens if decision.ttl_s > 0 and target is not None else 0
        feedback.attach(req, feedback.report(
            key[1], "inferred" if prog.inferred else hints.source,
            getattr(req, _LOCK_HIT, False), decision.ttl_s, locked, decision.reason))
        if self.metrics is not None:
            self.metrics.observe_ttl(decision.ttl_s, decision.reason)
        last_turn = decision.reason == "last_turn"
        # only where the client said so: an inferred end (an answer without a tool call)
        # is a guess a chat user may continue
        if last_turn and hints.last_turn and target is not None and self.settings.drop_ended:
            drop = getattr(self.cache, "drop_ended", None)  # optional in a cache
            if drop is not None:
                self.ended_dropped_tokens += drop(target)
        if self.gate is not None and prog.queue_key is not None:
            self.gate.finished(key, context_tokens, last_turn or hints.last_turn, now)
        if last_turn and self.metrics is not None:
            # A program ended (once per program, not per step): export now, so a client
            # that saw its last answer reads /metrics that already count it.
            self._next_metrics = now + 0.25
            self.metrics.update(self.snapshot(now))

    def _infer(self, req, now: float) -> Optional[RequestProgram]:
        """The program of a request that sent no id (core/inference.py decides), cached
        on the request as program_of's is; None: a plain request."""
        found = turns.arrive_inferred(self.policy, self.inference, tenant_of(req),
                                      req.origin_input_ids, str(req.rid), now)
        value = None if found is None else RequestProgram(
            found.key, ProgramHints(found.key[1]), inferred=True, proven=found.proven)
        setattr(req, _HINTS, value)
        return value

    def _detect_tool(self, req) -> Optional[str]:
        if self.tokenizer is None or not req.output_ids:
            return None
        try:
            text = self.tokenizer.decode(req.output_ids[-512:])
        except Exception:  # a tokenizer that cannot decode noise is not our failure
            return None
        if self.tool_names is not None:
            try:
                name = self.tool_names(text)
            except Exception:  # a detector that trips on noise: our rules decide
                name = None
            if name is not None:
                return name
        return detect_tool(text)

    # --- every scheduler step -------------------------------------------------
    def tick(self) -> None:
        now = self.now()
        turns.expire(self.policy, self.cache, now, self.inference)
        if self.metrics is not None and now >= self._next_metrics:
            self._next_metrics = now + 0.25  # an idle scheduler still wakes each second
            self.metrics.update(self.snapshot(now))
        if self.settings.status_interval_s and now >= self._next_status:
            self._next_status = now + self.settings.status_interval_s
            self._log_status()

    def relieve_pressure(self, head=None, engine_idle: bool = True) -> bool:
        """Release one lock (youngest program first) for the waiting request `head`
        (None: decode pressure). False when no lock may give way."""
        if head is None:
            return turns.relieve(self.policy, self.cache)
        prog = program_of(head)
        return turns.relieve(self.policy, self.cache, prog.queue_key if prog else None,
                             getattr(head, _ARRIVAL, None), engine_idle)

    def locks_outweigh(self, running_tokens: float) -> bool:
        """lock_running_ratio: the locks pin more than that many times the running
        requests' context tokens (they then give way to any waiting request)."""
        return self.policy.locks_outweigh(running_tokens, turns.host_free(self.cache))

    def pressure_could_fit(self, head, deficit_tokens: float, engine_idle: bool) -> bool:
        """Could the locks that may give way to `head` free `deficit_tokens` (the
        tokens it lacks)? If not, none is released for it. The head's matched prefix
        frees nothing: PrefillAdder pins it while it checks the fit."""
        prog = program_of(head)
        node, path_of = getattr(head, "last_node", None), getattr(self.cache, "path", None)
        path = path_of(node) if path_of is not None and node is not None \
            and not self.cache.is_root(node) else None
        return self.policy.pressure_could_fit(
            deficit_tokens, prog.queue_key if prog else None,
            getattr(head, _ARRIVAL, None), engine_idle, path, turns.host_free(self.cache))

    def sort_waiting(self, waiting_queue: list, priority_sign: Optional[int] = None,
                     match: Optional[Callable[[list], None]] = None) -> None:
        """Sort SGLang's waiting queue by the core's queue order. `priority_sign`
        (--enable-priority-scheduling: SGLang's SchedulePolicy.priority_sign): the
        request's priority first, as SGLang orders it, then the queue order. `match`
        (given where SGLang did not match the queue's prefixes this step): refreshes
        the requests' matched prefixes, called before an "srpt" sort reads them."""
        if not self._programs_seen or not self.ordered or len(waiting_queue) < 2:
            return
        if not any((p := program_of(r)) is not None and p.proven for r in waiting_queue):
            return  # no program requests: SGLang's own order stands
        now = self.now()
        key_fn = self.policy.queue_key_fn(now)
        if self.srpt and match is not None:
            match(waiting_queue)

        # Runs for every waiting request every step (benchmarks/overhead, part 2): each
        # request's key inputs are read in C (_SORT_FIELDS, set by on_queued) and passed
        # to the core's key with no Python call of our own; then the queue is put in the
        # keys' order in place (SGLang holds the list; sorted() is stable: equal keys keep
        # SGLang's order). Uncached prefill tokens: the prompt (with the output already
        # generated, for a preempted request) less num_matched_prefix_tokens, the prefix
        # SGLang matched on the device or, with HiCache, on the host, as its
        # shortest-prefill-first counts them (the key clamps it to >= 1). SGLang
        # refreshes that match in calc_priority under a cache-aware --schedule-policy or
        # a tree that matches fast; otherwise `match` does; a stale one at worst ranks a
        # request as if nothing were cached.
        queue = waiting_queue
        try:
            keys = list(starmap(key_fn, map(_SORT_FIELDS, queue)))
        except AttributeError:  # a request on_queued did not see (SGLang's pipeline-
            # parallel and disaggregated paths extend the queue directly): the long way
            keys = [self._sort_key(key_fn, r, now) for r in queue]
        if priority_sign is not None:  # the priority goes in front of the queue order
            keys = [((getattr(r, "priority", None) or 0) * priority_sign, k)
                    for r, k in zip(queue, keys)]
        order = sorted(range(len(queue)), key=keys.__getitem__)
        queue[:] = operator.itemgetter(*order)(queue)  # len(queue) >= 2: a tuple

    @staticmethod
    def _sort_key(key_fn, r, now: float) -> tuple:
        """sort_waiting's key of a request whose sort inputs on_queued did not set."""
        prog = program_of(r)
        return key_fn(None if prog is None else prog.queue_key, getattr(r, _ARRIVAL, now),
                      r.is_retracted, len(r.origin_input_ids) + len(r.output_ids),
                      getattr(r, "num_matched_prefix_tokens", 0))

    def forget_all_locks(self) -> None:
        # The tree is being reset: its nodes (and our TreeLocks on them) are gone.
        self.policy.clear()

    def snapshot(self, now: float | None = None):
        """The policy's snapshot (with `now`: the overdue-lock metric too), with the
        identity table's counts."""
        snap = self.policy.snapshot(now)
        if self.ended_dropped_tokens:
            snap = dataclasses.replace(snap, ended_dropped_tokens=self.ended_dropped_tokens)
        if self.gate is not None:
            snap = dataclasses.replace(snap, gate_held=self.gate.held,
                                       gate_held_total=self.gate.held_total,
                                       gate_resident_tokens=self.gate.residents.total)
        if self.inference is None:
            return snap
        return dataclasses.replace(snap, programs_inferred=self.inference.started,
                                   turns_inferred=self.inference.matched)

    def _log_status(self) -> None:
        snap = self.snapshot(self.now())
        line = json.dumps(snap.to_dict(), sort_keys=True)
        if line != self._last_status:
            self._last_status = line
            logger.info("continuum status %s", line)
