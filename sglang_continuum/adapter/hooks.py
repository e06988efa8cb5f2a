"""The overlay's hooks into SGLang 0.5.23, registered through ``HookRegistry``.

Each hook finds the Controller on the scheduler's tree cache and does nothing when
the cache is not ours (``--continuum-disable``, or another backend), so an installed
but unused overlay leaves SGLang's behaviour unchanged.
"""

from __future__ import annotations

import logging

from sglang_continuum.adapter import edge, feedback
from sglang_continuum.adapter.gate import output_budget

logger = logging.getLogger(__name__)

_SCHED = "sglang.srt.managers.scheduler.Scheduler"
_ADDER = "sglang.srt.managers.schedule_policy.PrefillAdder"
_POLICY = "sglang.srt.managers.schedule_policy.SchedulePolicy"
_BATCH = "sglang.srt.managers.schedule_batch.ScheduleBatch"
_TOKENIZER = "sglang.srt.managers.tokenizer_manager.TokenizerManager"
_DPC = "sglang.srt.managers.data_parallel_controller.DataParallelController"


def _ctl(owner):
    return getattr(getattr(owner, "tree_cache", None), "continuum", None)


def after_scheduler_init(result, self, *args, **kwargs):
    if (ctl := _ctl(self)) is not None:
        ctl.attach(self)


def after_add_request_to_queue(result, self, req, is_retracted=False, *args, **kwargs):
    if (ctl := _ctl(self)) is not None and self.waiting_queue and self.waiting_queue[-1] is req:
        ctl.on_queued(req, is_retracted)


def after_release_aborted_request(result, self, req, *args, **kwargs):
    if (ctl := _ctl(self)) is not None:
        ctl.on_aborted(req)


def around_poll_timeout_aborts(original, self, *args, **kwargs):
    """On the entry rank (the only one SGLang polls its timeouts on): add this step's
    time to the aborts that ride the step's broadcast to every rank."""
    local_reqs = original(self, *args, **kwargs)
    if (ctl := _ctl(self)) is not None and ctl.shared_time:
        from sglang_continuum.adapter.step_time import StepTime

        local_reqs = [*local_reqs, StepTime(float(ctl.clock()))]
    return local_reqs


def around_process_input_requests(original, self, recv_reqs, *args, **kwargs):
    """On every rank: take the step's shared time out of its inputs before SGLang
    dispatches them (its dispatcher knows no such type). The caller's list keeps the
    marker: pipeline stages relay it onward."""
    from sglang_continuum.adapter.step_time import split

    now, reqs = split(recv_reqs)
    if now is not None and (ctl := _ctl(self)) is not None:
        ctl.on_step_time(now)
    return original(self, reqs, *args, **kwargs)


def before_get_next_batch_to_run(self, *args, **kwargs):
    if (ctl := _ctl(self)) is not None:
        ctl.tick()


def after_calc_priority(result, self, waiting_queue, *args, **kwargs):
    if (ctl := _ctl(self)) is not None:
        matched = getattr(self, "waiting_queue_prefix_matched", None)
        ctl.sort_waiting(waiting_queue, self.priority_sign
                         if getattr(self, "enable_priority_scheduling", False) else None,
                         match=None if matched is None or matched(waiting_queue)
                         else lambda queue: _match_prefixes(self.tree_cache, queue))


def _match_prefixes(tree_cache, waiting_queue) -> None:
    """Refresh each waiting request's ``num_matched_prefix_tokens`` (device and host
    hits), as SGLang's cache-aware policies do in calc_priority and its own fcfs does
    not with the default tree; at most WAITING_QUEUE_PREFIX_MATCH_MAX requests, SGLang's
    own bound on matching a queue per step."""
    from sglang.srt.managers.schedule_policy import WAITING_QUEUE_PREFIX_MATCH_MAX
    from sglang.srt.mem_cache.common import match_kv_cache

    for req in waiting_queue[:WAITING_QUEUE_PREFIX_MATCH_MAX]:
        match_kv_cache(req, tree_cache)


# Set on a PrefillAdder (one per admission pass): a new program's first turn was held.
_GATE_HOLDING = "_continuum_gate_holding"


def around_add_one_req(original, self, req, *args, **kwargs):
    from sglang.srt.managers.schedule_policy import AddReqResult

    ctl = _ctl(self)
    if ctl is not None and ctl.gate is not None:
        # The admission gate passes over a new program's first turn:
        # CONTINUE without adding it leaves it queued and lets the scheduler try the
        # requests after it (continuing turns of resident programs).
        holding = getattr(self, _GATE_HOLDING, None)
        if holding is None:
            ctl.gate.new_pass()
        running = getattr(self, "running_batch", None)
        idle = not self.can_run_list and (running is None or running.is_empty())
        if ctl.gate_holds(req, bool(holding), idle):
            setattr(self, _GATE_HOLDING, True)
            return AddReqResult.CONTINUE
        setattr(self, _GATE_HOLDING, bool(holding))
    result = original(self, req, *args, **kwargs)
    if ctl is None:
        return result
    # Locks give way before anything else does: release the youngest program's
    # lock and retry, until the request fits or no lock may go (see pressure_scope);
    # none goes when all that may go could not make room for it.
    if result is AddReqResult.NO_TOKEN:
        running = getattr(self, "running_batch", None)
        idle = not self.can_run_list and (running is None or running.is_empty())
        # lock_running_ratio: locks that outweigh the running contexts give way as to an
        # idle engine (the running batch is the same on every TP rank)
        # (off by default: the running batch is then not summed)
        if not idle and ctl.policy.config.lock_running_ratio:
            idle = ctl.locks_outweigh(_running_tokens(self, running))
        if ctl.pressure_could_fit(req, _deficit(self, req), idle):
            while result is AddReqResult.NO_TOKEN and ctl.relieve_pressure(req, idle):
                _rematch(self, req)
                result = original(self, req, *args, **kwargs)
    if self.can_run_list and self.can_run_list[-1] is req:
        ctl.on_admitted(req)
    return result


def _running_tokens(adder, running) -> int:
    """The contexts of the running batch and of the requests this step admitted."""
    reqs = list(getattr(running, "reqs", None) or ()) + list(adder.can_run_list)
    return sum(len(r.origin_input_ids) + len(r.output_ids) for r in reqs)


def _rematch(adder, req) -> None:
    """Match the request's prefix again before it is retried, as the scheduler does
    before every add_one_req (Req.init_next_round_input): a lock that gave way may have
    been demoted to host, and a match taken before it would name device slots that are
    free now."""
    tree = getattr(adder, "tree_cache", None)
    init = getattr(req, "init_next_round_input", None)
    if init is not None and hasattr(tree, "match_prefix"):
        init(tree)


def _deficit(adder, req) -> float:
    """Tokens the request lacks to be admitted, as PrefillAdder.add_one_req counts them
    (its prompt past the cached prefix and its clipped output budget, against the
    adder's remaining total), without the page and slot reserves: a lower bound."""
    need = len(req.full_untruncated_fill_ids) - req.prefix_len + output_budget(req)
    return need - adder.rem_total_tokens


def around_check_decode_mem(original, self, *args, **kwargs):
    ok = original(self, *args, **kwargs)
    ctl = _ctl(self)
    if ctl is None:
        return ok
    # Before SGLang retracts a running request, release locks youngest-first.
    while not ok and ctl.relieve_pressure():
        ok = original(self, *args, **kwargs)
    return ok


def after_validate_one_request(result, self, obj, *args, **kwargs):
    """Reject malformed overlay fields at the HTTP edge (HTTP 400 naming the field)."""
    if getattr(self.server_args, "radix_cache_backend", None) != "continuum":
        return
    from sglang_continuum.core import parse_hints

    sp = obj.sampling_params if isinstance(obj.sampling_params, dict) else {}
    parse_hints(sp.get("custom_params"), getattr(obj, "routing_key", None),
                getattr(obj, "session_id", None))


def before_dp_dispatch(self, req, *args, **kwargs):
    """With --dp-size N: name the program's rank (adapter/dp_router.py)."""
    from sglang_continuum.adapter.dp_router import before_dp_dispatch as route

    route(self, req)


# (target, hook, hook type name): the one list install() registers and seams checks.
HOOKS = (
    (f"{_SCHED}.__init__", after_scheduler_init, "AFTER"),
    (f"{_SCHED}._add_request_to_queue", after_add_request_to_queue, "AFTER"),
    (f"{_SCHED}._release_aborted_request", after_release_aborted_request, "AFTER"),
    (f"{_SCHED}._poll_timeout_aborts", around_poll_timeout_aborts, "AROUND"),
    (f"{_SCHED}.process_input_requests", around_process_input_requests, "AROUND"),
    (f"{_SCHED}.get_next_batch_to_run", before_get_next_batch_to_run, "BEFORE"),
    (f"{_POLICY}.calc_priority", after_calc_priority, "AFTER"),
    (f"{_ADDER}.add_one_req", around_add_one_req, "AROUND"),
    (f"{_BATCH}.check_decode_mem", around_check_decode_mem, "AROUND"),
    (f"{_TOKENIZER}._validate_one_request", after_validate_one_request, "AFTER"),
    (f"{_DPC}.dispatching_with_trace", before_dp_dispatch, "BEFORE"),
    *edge.HOOKS, *edge.optional_hooks(),  # conventions clients send (adapter/edge.py)
    *feedback.HOOKS,  # per-request feedback in meta_info
)


def install(registry, hook_type) -> None:
    for target, hook, kind in HOOKS:
        registry.register(target, hook, getattr(hook_type, kind))


def check_seams(registry=None):
    """The seam report for the installed SGLang; with ``registry`` (HookRegistry,
    after ``apply_hooks``) it also checks that every hook target was patched."""
    from sglang_continuum.adapter import seams

    patched = getattr(registry, "_patched", None) if registry is not None else None
    return seams.check([t for t, _, _ in HOOKS], patched=patched)
