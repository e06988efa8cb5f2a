"""Part 1: radix-cache operations, overlay backend vs SGLang's default, in-process.

A small scheduler emulation drives both caches through one request script (see
workload.py) on a simulated clock: each step expires TTL locks (overlay), queues the
turns whose tool call ended, admits up to `batch` of them (match prefix, lock the
match, evict when the pool is short, allocate), and finishes the turns whose decode is
done (insert the whole context, move the lock to the new leaf, unlock, release).
The overlay's hooks run where SGLang's would call them; their time is reported apart.
The arms advance in lockstep, one scheduler step each in rotating order (ABAB at the
step level), so drift on a shared machine falls on every arm alike.

Three traffic mixes, each request carrying its token ids (array('q'), as SGLang's):
- ``stock``: requests without program ids, the overlay's program inference off (traffic
  it does not act on). Both trees see identical operations, so a ratio is the overlay's
  code cost alone.
- ``inferred``: the same requests, inference on (the server's default): the overlay
  finds each next turn's program from its prompt (core/inference.py) and locks as for
  ``agent``; against ``pinned`` (below) the cost of the inference and the policy.
- ``agent``: requests carry program ids; the Controller sets TTL locks. Against stock
  the trees diverge (locked contexts survive eviction: more hits, fewer evictions), so
  a third arm, ``pinned``, replays the overlay's lock schedule and queue order as plain
  TreeLocks on the default cache (arms.py): overlay/pinned is the overlay's code cost
  on the very same tree, overlay/stock the cost of holding TTL locks at all.
"""

from __future__ import annotations

import gc
import heapq
import statistics
from dataclasses import asdict, dataclass

from . import caches
from . import clock as cpu
from .arms import ControllerHooks, NoHooks, ReplayHooks
from .fakes import SimClock, make_req
from .stats import ratios, spread
from .workload import build_script

OPS = ("match", "lock", "unlock", "evict", "insert", "release")
MIXES = ("stock", "inferred", "agent")


@dataclass(frozen=True)
class CacheSpec:
    programs: int = 200
    turns: int = 16
    token_scale: float = 0.25
    shared_prefix: int = 3_000
    output_cap: int = 128
    max_gap_s: float = 30.0
    pool_tokens: int = 262_144
    batch: int = 8
    step_s: float = 0.05
    decode_tokens_per_step: int = 16
    repeats: int = 4
    mixes: tuple[str, ...] = MIXES
    seed: int = 0

    def __post_init__(self):
        for name in ("programs", "turns", "pool_tokens", "batch", "repeats",
                     "decode_tokens_per_step"):
            if getattr(self, name) < 1:
                raise ValueError(f"CacheSpec.{name}: expected an int >= 1")
        if set(self.mixes) - set(MIXES) or not self.mixes:
            raise ValueError(f"CacheSpec.mixes={self.mixes!r}: expected a subset of {MIXES}")


class _Timer:
    __slots__ = ("calls",)

    def __init__(self):
        self.calls = {op: [] for op in (*OPS, "hooks")}

    def add(self, op: str, seconds: float) -> None:
        self.calls[op].append(seconds)

    def summary(self) -> dict:
        out = {}
        for op, xs in self.calls.items():
            out[op] = {"calls": len(xs), "total_ms": sum(xs) * 1e3,
                       "median_us": statistics.median(xs) * 1e6 if xs else 0.0}
        out["cache_ops_ms"] = sum(out[op]["total_ms"] for op in OPS)
        out["all_ms"] = out["cache_ops_ms"] + out["hooks"]["total_ms"]
        return out


def _drive(cache, allocator, script, spec: CacheSpec, with_programs: bool,
           hooks=None):
    """Run the script against one cache, one scheduler step per ``next()``; the
    generator's return value holds the timings and tree counters."""
    from sglang.srt.mem_cache.base_prefix_cache import EvictParams, InsertParams, \
        MatchPrefixParams
    from sglang.srt.mem_cache.radix_cache import RadixKey
    import torch

    ctl = getattr(cache, "continuum", None)
    clock = SimClock(1_000.0)
    if ctl is not None:
        ctl.clock = clock
    hooks = hooks or (ControllerHooks(ctl) if ctl is not None else NoHooks())
    timer = _Timer()
    add, now = timer.add, cpu.now
    next_turn = [0] * len(script)
    due = [(0.0, p, p) for p in range(len(script))]  # heap of (arrival, seq, program)
    seq = len(due)
    waiting: list = []
    running: list = []
    hit = computed = evicted = short = 0
    step = 0
    while due or waiting or running:
        step += 1
        clock.now += spec.step_s
        t0 = now(); hooks.tick(); add("hooks", now() - t0)
        while due and due[0][0] <= clock.now:
            p = heapq.heappop(due)[2]
            prog, turn = script[p], script[p].turns[next_turn[p]]
            r = make_req(f"{prog.program_id}:{next_turn[p]}",
                         prog.program_id if with_programs else None,
                         turn.prompt, turn.output, tool=turn.tool, last=turn.last,
                         ids=script[p].stream[:turn.prompt])
            r.extra["p"] = p
            waiting.append(r)
            t0 = now(); hooks.queued(r); add("hooks", now() - t0)
        if waiting:
            t0 = now(); hooks.sort(waiting); add("hooks", now() - t0)
        while waiting and len(running) < spec.batch:
            r = waiting[0]
            p = r.extra["p"]
            turn = script[p].turns[next_turn[p]]
            key = RadixKey(script[p].stream[:turn.prompt])
            t0 = now()
            m = cache.match_prefix(MatchPrefixParams(key=key))
            prefix = cache.path_device_indices(m.last_device_node)[:m.device_prefix_len]
            t1 = now()
            lk = cache.lock(m.last_device_node)
            t2 = now()
            add("match", t1 - t0); add("lock", t2 - t1)
            need = turn.prompt - m.device_prefix_len + turn.output
            if allocator.available_size() < need:
                t0 = now()
                res = cache.evict(EvictParams(num_tokens=need - allocator.available_size()))
                add("evict", now() - t0)
                evicted += res.num_tokens_evicted
                # Locks give way before the request does (hooks.around_add_one_req);
                # the engine is idle when nothing runs and nothing was admitted.
                while allocator.available_size() < need:
                    t0 = now()
                    relieved = hooks.relieve(r, not running)
                    add("hooks", now() - t0)
                    if not relieved:
                        break
                    t0 = now()
                    res = cache.evict(EvictParams(num_tokens=need - allocator.available_size()))
                    add("evict", now() - t0)
                    evicted += res.num_tokens_evicted
            if allocator.available_size() < need:
                t0 = now(); cache.unlock(lk); add("unlock", now() - t0)
                short += 1
                if not running:
                    raise RuntimeError(f"request {r.rid} needs {need} tokens: more than the "
                                       f"pool can free ({spec.pool_tokens})")
                break  # the head of the queue waits for running requests to finish
            waiting.pop(0)
            new = allocator.alloc(need)
            r.prefix_len = m.device_prefix_len
            hit += m.device_prefix_len
            computed += turn.prompt - m.device_prefix_len
            t0 = now(); hooks.admitted(r); add("hooks", now() - t0)
            decode_steps = 1 + turn.output // spec.decode_tokens_per_step
            running.append((step + decode_steps, r, lk, prefix, new))
        still = []
        for item in running:
            if item[0] > step:
                still.append(item)
                continue
            _, r, lk, prefix, new = item
            p = r.extra["p"]
            turn = script[p].turns[next_turn[p]]
            value = torch.cat((prefix, new))
            key = RadixKey(script[p].stream[:turn.prompt + turn.output])
            t0 = now()
            # As checkpoint_into_tree: the tree frees what another request inserted
            # meanwhile (past prev_prefix_len), never the request's matched prefix.
            res = cache.insert(InsertParams(key=key, value=value, prev_prefix_len=len(prefix),
                                            inserted_len=len(prefix)))
            add("insert", now() - t0)
            t0 = now(); nl = cache.lock(res.last_device_node); add("lock", now() - t0)
            t0 = now(); cache.unlock(lk); cache.unlock(nl); add("unlock", now() - t0)
            r.last_node, r.done = res.last_device_node, True
            # the generated tokens (program inference records the finished turn by them)
            r.output_ids = script[p].stream[turn.prompt:turn.prompt + turn.output]
            token = hooks.release_begin()
            t0 = now()
            cache.on_release(r, checkpointed=True)
            hooks.released(r, token)
            add("release", now() - t0)
            next_turn[p] += 1
            if not turn.last:
                seq += 1
                heapq.heappush(due, (clock.now + turn.gap_s, seq, p))
        running = still
        yield step
    for lock in getattr(hooks, "pins", {}).values():
        cache.unlock(lock)
    held = allocator.available_size() + cache.evictable_size() + cache.protected_size()
    if held != spec.pool_tokens:  # a leak or a double free: the timings would be wrong
        raise RuntimeError(f"KV accounting broken: free + evictable + protected = {held}, "
                           f"pool {spec.pool_tokens}")
    out = timer.summary()
    out.update(steps=step, hit_tokens=hit, computed_tokens=computed,
               evicted_tokens=evicted, admission_stalls=short)
    if ctl is not None:
        snap = ctl.policy.snapshot()
        out["locks"] = {k: getattr(snap, k) for k in
                        ("locks_set", "locks_consumed", "locks_lapsed",
                         "locks_released_pressure", "locks_refused")}
    return out


def overlay_settings(spec: CacheSpec, infer: bool = True):
    """The server's defaults, with the reload cost of a scaled context equal to that of
    the unscaled one (otherwise contexts shrunk 4x never pay for a lock); `infer`:
    program inference (the default) or not."""
    from sglang_continuum.core import PolicyConfig, PrefillModel
    from sglang_continuum.adapter.settings import Settings

    return Settings(PolicyConfig(prefill_profile=PrefillModel(0.0, 1.0e-4 / spec.token_scale)),
                    infer_programs=infer)


def run(spec: CacheSpec, log=print) -> dict:
    import torch

    torch.set_num_threads(1)  # all work on the timed thread (see clock.py)
    script = build_script(spec.programs, spec.turns, spec.token_scale, spec.shared_prefix,
                          spec.output_cap, spec.max_gap_s, spec.seed)
    tokens = [len(p.stream) for p in script]
    out: dict = {"spec": asdict(spec), "script": {
        "programs": len(script), "turns": sum(len(p.turns) for p in script),
        "final_context_tokens": spread(tokens),
        "growth_per_turn_tokens": statistics.median(
            (p.turns[-1].prompt - p.turns[0].prompt) / max(1, len(p.turns) - 1)
            for p in script)},
        "overlay_settings": overlay_settings(spec).to_json(), "clock": cpu.name(),
        "mixes": {}}
    for mix in spec.mixes:
        out["mixes"][mix] = _run_mix(spec, script, mix, log)
    return out


def _arm(spec, script, backend: str, mix: str, record=None, replay=None, part=None):
    """A fresh cache for `backend` and the generator that drives it."""
    cache, allocator = caches.build("stock" if backend == "pinned" else backend,
                                    spec.pool_tokens,
                                    overlay_settings(spec, infer=(mix != "stock")))
    hooks = None
    if replay is not None:
        hooks = ReplayHooks(cache, replay)
    elif record is not None:
        hooks = ControllerHooks(cache.continuum, record)
    return _drive(cache, allocator, script if part is None else script[:part], spec,
                  with_programs=(mix == "agent"), hooks=hooks)


def _lockstep(drivers: dict, first: int) -> dict:
    """Advance every arm one scheduler step at a time, the lead arm rotating each step,
    so machine drift (other tenants, frequency) falls on all arms alike."""
    names = list(drivers)
    results: dict = {}
    gc.collect()
    i = first
    while len(results) < len(names):
        for name in names[i % len(names):] + names[:i % len(names)]:
            if name in results:
                continue
            try:
                next(drivers[name])
            except StopIteration as stop:
                results[name] = stop.value
        i += 1
    return results


def _run_mix(spec: CacheSpec, script, mix: str, log) -> dict:
    """Repeats of all arms in lockstep; overlay against each baseline."""
    arms = ["overlay", "stock"]
    record = None
    if mix != "stock":
        # The overlay's lock schedule and queue order, recorded once (untimed), then
        # replayed on the default cache: the "pinned" arm has the overlay's very tree.
        record = []
        _lockstep({"rec": _arm(spec, script, "overlay", mix, record=record)}, 0)
        arms.append("pinned")
    _lockstep({a: _arm(spec, script, a, mix, part=max(1, len(script) // 8),
                       replay=record if a == "pinned" else None)
               for a in arms if a != "pinned"}, 0)  # warm-up, not recorded
    runs = {a: [] for a in arms}
    for rep in range(spec.repeats):
        res = _lockstep({a: _arm(spec, script, a, mix,
                                 replay=record if a == "pinned" else None) for a in arms}, rep)
        for a in arms:
            runs[a].append(res[a])
        o = runs["overlay"][-1]
        log(f"  cache mix={mix} rep {rep + 1}/{spec.repeats}: "
            + ", ".join(f"{a} {runs[a][-1]['cache_ops_ms']:.0f} ms" for a in arms)
            + f" (cache ops); overlay hooks {o['hooks']['total_ms']:.1f} ms; hit tokens "
            + ", ".join(f"{a} {runs[a][-1]['hit_tokens']}" for a in arms))
    if "pinned" in runs and runs["pinned"][-1]["hit_tokens"] != runs["overlay"][-1]["hit_tokens"]:
        raise RuntimeError("the replayed lock schedule did not reproduce the overlay's tree")
    return {base: _compare(runs["overlay"], runs[base]) for base in arms[1:]}


def _compare(o: list, s: list) -> dict:
    """Overlay runs `o` against baseline runs `s` (same repeats)."""
    row = {"ratio": {}, "overlay": {}, "baseline": {}}
    for label, get in (("cache_ops_total", lambda r: r["cache_ops_ms"]),
                       ("all_incl_hooks", lambda r: r["all_ms"]),
                       *((f"{op}_median", (lambda op: lambda r: r[op]["median_us"])(op))
                         for op in OPS)):
        ov, st = [get(r) for r in o], [get(r) for r in s]
        if min(st) > 0:
            row["ratio"][label] = spread(ratios(ov, st))
        row["overlay"][label] = spread(ov)
        row["baseline"][label] = spread(st)
    row["overlay"]["hooks_ms"] = spread([r["hooks"]["total_ms"] for r in o])
    row["baseline"]["hooks_ms"] = spread([r["hooks"]["total_ms"] for r in s])
    for k in ("hit_tokens", "computed_tokens", "evicted_tokens", "steps"):
        row["overlay"][k] = o[-1][k]
        row["baseline"][k] = s[-1][k]
    row["overlay"]["locks"] = o[-1].get("locks")
    row["calls"] = {op: o[-1][op]["calls"] for op in (*OPS, "hooks")}
    row["raw"] = {"overlay": o, "baseline": s}
    return row
