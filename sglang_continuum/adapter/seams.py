"""Every SGLang seam the adapter relies on, checked before the overlay serves.

SGLang's ``HookRegistry.apply_hooks`` logs a target it cannot resolve and carries on,
and the adapter reads scheduler, adder and request attributes by name. After an
upstream rename the server would still start, silently stock or half-applied. This
module lists those seams in one table and checks them against the installed SGLang:
the launcher refuses to start (naming each missing seam and the SGLang version found),
the cache factory refuses to build the overlay's cache, and
``python -m sglang_continuum.server.patching check`` reports them beside the patches.
"""

from __future__ import annotations

import ast
import functools
import inspect
import pkgutil
import textwrap
from dataclasses import dataclass, fields, is_dataclass

_SCHED = "sglang.srt.managers.scheduler.Scheduler"
_ADDER = "sglang.srt.managers.schedule_policy.PrefillAdder"
_BATCH = "sglang.srt.managers.schedule_batch.ScheduleBatch"
_REQ = "sglang.srt.managers.schedule_batch.Req"
_TOKENIZER = "sglang.srt.managers.tokenizer_manager.TokenizerManager"
_CACHE = "sglang.srt.mem_cache.unified_radix_cache.UnifiedRadixCache"
_DPC = "sglang.srt.managers.data_parallel_controller.DataParallelController"

# Dotted object -> members the adapter reads or calls on it (or on its instances).
MEMBERS: dict[str, tuple[str, ...]] = {
    _SCHED: ("tree_cache", "waiting_queue", "running_batch", "tokenizer", "server_args"),
    _ADDER: ("can_run_list", "running_batch", "rem_total_tokens"),
    "sglang.srt.managers.schedule_policy": ("CLIP_MAX_NEW_TOKENS",),
    "sglang.srt.managers.schedule_policy.SchedulePolicy": (
        "enable_priority_scheduling", "priority_sign"),
    _BATCH: ("is_empty", "check_decode_mem"),
    _REQ: ("rid", "sampling_params", "origin_input_ids", "output_ids", "prefix_len",
           "last_node", "finished", "finished_reason", "is_retracted", "routing_key",
           "cache_salt", "extra_key", "customized_info", "full_untruncated_fill_ids", "priority"),
    "sglang.srt.sampling.sampling_params.SamplingParams": ("custom_params",),
    _TOKENIZER: ("server_args",),
    _CACHE: ("lock", "unlock", "on_release", "reset", "is_root", "disable",
             # host tier (adapter/cache.py demote/unhold); _demote is private
             "cache_controller", "host_memory_mode", "tree_core", "full_evictable_size",
             "is_backuped", "ongoing_write_through", "writing_check",
             "backup_node_for_write_back", "inc_host_lock_ref", "dec_host_lock_ref",
             "_demote"),
    "sglang.srt.mem_cache.unified_cache.unified_tree_core_interface.TreePathNodeInfo":
        ("num_children", "full_value_len"),
    "sglang.srt.mem_cache.unified_cache.unified_tree_core_interface.UnifiedTreeCoreInterface":
        ("collect_path_info",),
    "sglang.srt.managers.schedule_policy.AddReqResult": ("NO_TOKEN",),
    "sglang.srt.managers.schedule_batch": ("FINISH_ABORT",),
    "sglang.srt.mem_cache.registry": ("TreeCacheBuildContext", "create_unified_radix_cache",
                                      "register_radix_cache_backend",
                                      "registered_radix_cache_backends"),
    "sglang.srt.mem_cache.registry.TreeCacheBuildContext": ("params", "tp_rank",
                                                             "server_args"),
    # Metric labels as SGLang's scheduler metrics carry them (adapter/cache.py).
    "sglang.srt.runtime_context": ("get_parallel",),
    # Program-sticky DP routing (adapter/dp_router.py).
    _DPC: ("server_args", "workers", "dp_budget", "refresh_load_budget", "_active_workers"),
    "sglang.srt.managers.data_parallel_controller.DPBudget": ("total_requests",),
    "sglang.srt.managers.data_parallel_controller": ("is_health_check_generate_req",),
    "sglang.srt.managers.io_struct.TokenizedGenerateReqInput": (
        "routed_dp_rank", "input_ids", "sampling_params", "routing_key", "session_id",
        "extra_key", "rid"),
}

# Hooked callables whose parameters the hooks take by name.
PARAMETERS: dict[str, tuple[str, ...]] = {
    f"{_SCHED}._add_request_to_queue": ("req", "is_retracted"),
    f"{_SCHED}._release_aborted_request": ("req",),
    # The step's shared time (adapter/step_time.py) rides local_reqs, which the entry
    # rank's _poll_timeout_aborts result becomes, into process_input_requests.
    f"{_SCHED}.process_input_requests": ("recv_reqs",),
    "sglang.srt.managers.scheduler_components.request_receiver."
    "SchedulerRequestReceiver.recv_requests": ("local_reqs",),
    f"{_ADDER}.add_one_req": ("req",),
    "sglang.srt.managers.schedule_policy.SchedulePolicy.calc_priority": ("waiting_queue",),
    f"{_TOKENIZER}._validate_one_request": ("obj",),
    f"{_CACHE}.on_release": ("req", "checkpointed"),
    "sglang.srt.mem_cache.registry.create_unified_radix_cache": ("cache_class",),
    f"{_CACHE}._demote": ("node_id", "tracker"),
    f"{_CACHE}.dec_host_lock_ref": ("node_id", "params"),
    f"{_DPC}.dispatching_with_trace": ("req",),
    # The HTTP edge's conventions (adapter/edge.py).
    "sglang.srt.entrypoints.openai.serving_chat.OpenAIServingChat._convert_to_internal_request":
        ("request", "raw_request"),
    "sglang.srt.entrypoints.openai.serving_completions.OpenAIServingCompletion."
    "_convert_to_internal_request": ("request", "raw_request"),
    # Per-request feedback (adapter/feedback.py).
    "sglang.srt.managers.scheduler_components.output_streamer.SchedulerOutputStreamer."
    "is_request_level_customized_info_key": ("key",),
    "sglang.srt.entrypoints.openai.serving_chat.OpenAIServingChat._build_chat_response":
        ("request", "ret"),
}


@dataclass(frozen=True)
class SeamReport:
    sglang_version: str
    missing: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing

    def message(self) -> str:
        if self.ok:
            return f"all SGLang seams of the overlay found in SGLang {self.sglang_version}"
        lines = "\n".join(f"  - {m}" for m in self.missing)
        return (f"sglang-continuum cannot run on SGLang {self.sglang_version}: "
                f"{len(self.missing)} seam(s) it relies on are missing or were not "
                f"patched:\n{lines}\nThe overlay is built for sglang==0.5.23. Pass "
                "--continuum-disable to run stock SGLang.")


def check(hook_targets=(), members=None, parameters=None, patched=None) -> SeamReport:
    """Check the seams against the installed SGLang.

    ``hook_targets`` are the dotted targets registered with ``HookRegistry``; each
    must resolve and, when ``patched`` (the set of targets the registry applied) is
    given, be in it."""
    members = MEMBERS if members is None else members
    parameters = PARAMETERS if parameters is None else parameters
    missing: list[str] = []
    for target in hook_targets:
        if _resolve(target) is None:
            missing.append(f"hook target {target}: not found")
        elif patched is not None and target not in patched:
            missing.append(f"hook target {target}: found but HookRegistry did not patch it")
    for owner, names in members.items():
        obj = _resolve(owner)
        if obj is None:
            missing.append(f"{owner}: not found")
            continue
        missing += [f"{owner}.{n}: not found" for n in names if not _has_member(obj, n)]
    for target, names in parameters.items():
        fn = _resolve(target)
        if fn is None:
            missing.append(f"{target}: not found")
            continue
        params = _parameters(fn)
        missing += [f"{target}: no parameter {n!r}" for n in names
                    if params is not None and n not in params]
    return SeamReport(_sglang_version(), tuple(dict.fromkeys(missing)))


def _resolve(dotted: str):
    try:
        return pkgutil.resolve_name(dotted)
    except (ImportError, AttributeError, ValueError):
        return None


def _parameters(fn):
    fn = inspect.unwrap(fn)  # hooks wrap with functools.wraps
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None


def _has_member(obj, name: str) -> bool:
    if hasattr(obj, name):
        return True
    if not inspect.isclass(obj):
        return False
    if is_dataclass(obj) and name in {f.name for f in fields(obj)}:
        return True
    # Instance attributes exist only on instances: look for `self.<name> = ...` (or an
    # annotation) in the class's own source and its bases'.
    return any(name in _assigned_attributes(klass) for klass in inspect.getmro(obj)
               if klass.__module__.startswith("sglang"))


@functools.lru_cache(maxsize=None)  # a pure function of installed source code
def _assigned_attributes(klass) -> frozenset[str]:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
    except (OSError, TypeError, SyntaxError):
        return frozenset()
    names = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for t in targets:
            for sub in ast.walk(t):
                if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) \
                        and sub.value.id == "self":
                    names.add(sub.attr)
                elif isinstance(sub, ast.Name):
                    names.add(sub.id)  # class-level annotations and assignments
    return frozenset(names)


def _sglang_version() -> str:
    try:
        from importlib.metadata import version

        return version("sglang")
    except Exception:  # not installed as a distribution (a source checkout)
        try:
            import sglang

            return getattr(sglang, "__version__", "unknown")
        except ImportError:
            return "not installed"
