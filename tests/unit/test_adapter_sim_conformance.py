"""The server and the simulator drive the policy core the same way.

One scenario of agent turns (arrivals, admissions, finishes, lock expiry, eviction,
memory pressure, an abort) is played twice: through the SGLang adapter's Controller
over SGLang's real radix cache (the scheduler played by hand, as in
test_invariants_radix.py), and through the simulator's CoreBridge over its prefix
cache. Every core call (arguments and results) and every KV lock/unlock is logged on
each side; the two logs must be equal. A second scenario runs the default mode with
agents that send no program id (their programs inferred from their prompts, tool calls
detected in their outputs) and a plain request. The mutation tests show that the
comparison fails when either side's sequence or inference is changed alone.
"""

from __future__ import annotations

import dataclasses
from array import array

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sglang")

from sglang.srt.managers.schedule_batch import FINISH_ABORT, FINISH_LENGTH, Req  # noqa: E402
from sglang.srt.mem_cache.allocation import alloc_token_slots  # noqa: E402
from sglang.srt.mem_cache.base_prefix_cache import EvictParams  # noqa: E402
from sglang.srt.mem_cache.common import release_kv_cache  # noqa: E402
from sglang.srt.sampling.sampling_params import SamplingParams  # noqa: E402

from sglang_continuum.adapter.controller import (Controller, RequestProgram,  # noqa: E402
                                                  tenant_of)
from sglang_continuum.core import ProgramHints, turns  # noqa: E402
from sglang_continuum.core import (ContinuumPolicy, LockDecision, PolicyConfig,  # noqa: E402
                                   ProgramInference)
from sglang_continuum.adapter.settings import Settings  # noqa: E402
from sglang_continuum.sim.bridge import CoreBridge  # noqa: E402
from sglang_continuum.sim.cache import PrefixCache  # noqa: E402
from sglang_continuum.sim.policies import SimPolicy  # noqa: E402
from sglang_continuum.sim.request import ContextIds, ProgramRun, Request  # noqa: E402
from sglang_continuum.workload import Program as ProgramSpec, Turn  # noqa: E402

from .test_invariants_radix import POOL, Clock, build_cache  # noqa: E402

CONFIG = PolicyConfig(mode="fixed", fixed_ttl_s=5.0, per_program_max_fraction=0.5)
T0 = 1000.0
LOGGED = ("on_arrival", "on_admitted", "on_finish", "set_lock", "expired",
          "release_for_pressure", "drop", "record_queue_delay", "turns_done",
          "set_first_turn_share")

# (event, program, new prompt tokens or seconds, last turn)
SCENARIO = [
    ("arrive", "a", 50, False), ("admit", "a"), ("finish", "a"),
    ("arrive", "b", 60, False), ("admit", "b"), ("finish", "b"),
    ("wait", 1.0), ("arrive", "a", 10, False), ("admit", "a"), ("finish", "a"),
    ("wait", 4.5),  # b's lock lapses, a's holds
    ("arrive", "b", 10, False), ("admit", "b"), ("finish", "b"),  # cached: no sample
    ("wait", 6.0), ("evict",),  # every lock lapsed, then the pool is emptied
    ("arrive", "a", 10, True), ("wait", 0.5), ("admit", "a"), ("finish", "a"),  # evicted
    ("arrive", "b", 5, False), ("admit", "b"), ("finish", "b"),  # evicted too
    ("relieve",),  # decode pressure takes b's lock
    ("arrive", "b", 5, False), ("admit", "b"), ("finish", "b"),
    ("arrive", "b", 5, False), ("abort", "b"),  # a queued turn aborted: its lock goes
]
OUTPUT = 4

# The default mode; agents that send no program id. "t" calls a tool every turn (an
# agent whose format is recognised), "u" never does (proven only by being continued),
# "p" is a plain request no prompt continues, "s" is too short to key.
INFERRED_CONFIG = PolicyConfig(per_program_max_fraction=0.5)
TOOLS = {"t": "ls"}
INFERRED = [
    ("arrive", "t", 50, False), ("admit", "t"), ("finish", "t"),  # tool call: locks
    ("arrive", "u", 60, False), ("admit", "u"), ("finish", "u"),  # first turn: share 1/2
    ("arrive", "p", 40, False), ("admit", "p"), ("finish", "p"),
    ("arrive", "s", 20, False), ("admit", "s"), ("finish", "s"),  # never seen by the core
    ("wait", 1.0), ("arrive", "t", 10, False), ("admit", "t"), ("finish", "t"),  # proven
    ("arrive", "u", 10, False), ("admit", "u"), ("finish", "u"),  # continued: share up
    ("wait", 30.0),  # every lock lapses; p's first turn counts as not continued
    ("arrive", "q", 40, False), ("admit", "q"), ("finish", "q"),  # plain: locks nothing
    ("arrive", "u", 10, False), ("admit", "u"), ("finish", "u"),
    ("relieve",),  # decode pressure takes the youngest lock
    ("arrive", "t", 10, True), ("admit", "t"), ("finish", "t"),  # an answer: t ends
    ("arrive", "u", 5, False), ("abort", "u"),
]


class Log:
    """One side's calls: handles are named by the order in which locks were taken."""

    def __init__(self):
        self.entries: list[tuple] = []
        self.names: dict[int, tuple[object, str]] = {}  # holds the handle: ids stay unique

    def name(self, value):
        named = self.names.get(id(value))
        if named is not None and named[0] is value:
            return named[1]
        if isinstance(value, LockDecision):
            return ("decision", value.ttl_s, value.reason)
        if isinstance(value, float):
            return round(value, 6)
        if isinstance(value, (list, tuple)):
            return tuple(self.name(v) for v in value)
        return value


class RecordingPolicy:
    def __init__(self, core: ContinuumPolicy, log: Log):
        self._core, self._log = core, log

    def __getattr__(self, attr):
        fn = getattr(self._core, attr)
        if attr not in LOGGED:
            return fn

        def call(*args, **kwargs):  # keywords (a lock's path) are the cache's own: not compared
            result = fn(*args, **kwargs)
            self._log.entries.append((attr, self._log.name(args), self._log.name(result)))
            return result

        return call


class RecordingLocks:
    def __init__(self, locks, log: Log, program_of):
        self._locks, self._log, self._program_of = locks, log, program_of

    def lock(self, target):
        handle = self._locks.lock(target)
        self._log.names[id(handle)] = (handle, f"L{len(self._log.names)}")
        self._log.entries.append(("lock", self._program_of(target)))
        return handle

    def unlock(self, handle):
        self._log.entries.append(("unlock", self._log.name(handle)))
        self._locks.unlock(handle)

    def demote(self, handle):  # host tier: release and move the KV to host memory
        host = self._locks.demote(handle)
        self._log.entries.append(("demote", self._log.name(handle), host is not None))
        return host

    def __getattr__(self, attr):
        return getattr(self._locks, attr)


class Tokenizer:
    """Decodes a program's output to a tool call where the scenario says it calls one
    (ids carry their program: ContextIds)."""

    def __init__(self, side):
        self.side = side

    def decode(self, ids):
        pid = self.side.pids[(ids[0] >> 32) - 1]
        tool = self.side.tool.get(pid)
        return f"```bash\n{tool} -la\n```" if tool else "Done."


class ServerSide:
    """The scheduler's calls into the overlay, as in test_invariants_radix.py."""

    def __init__(self, config=CONFIG, plain=False):
        self.log = Log()
        self.cache, self.allocator, self.req_pool = build_cache()
        self.clock = Clock()
        self.clock.t = T0
        self.ctl = Controller(self.cache, Settings(config, 0), capacity_tokens=POOL,
                              clock=self.clock)
        self.cache.continuum = self.ctl
        self.ctl.policy = RecordingPolicy(self.ctl.policy, self.log)
        self.context: dict[str, int] = {}  # tokens of the last finished turn
        self.req: dict[str, Req] = {}
        self.ctl.cache = RecordingLocks(self.cache, self.log, lambda node: next(
            pid for pid, req in self.req.items() if req.last_node is node))
        self.plain = plain  # send no program id, last_turn or tool name
        self.ctl.tokenizer = Tokenizer(self)
        self.pids: list[str] = []  # in order of first arrival (the simulator's index)
        self.turn: dict[str, int] = {}
        self.tool: dict[str, str | None] = {}  # the tool the pending output calls

    def arrive(self, pid, new, last):
        if pid not in self.pids:
            self.pids.append(pid)
        n = self.context.get(pid, 0) + new
        ids = ContextIds(self.pids.index(pid), 0, n)[:]
        self.tool[pid] = None if last else TOOLS.get(pid)
        custom = None if self.plain else {"program_id": pid, "last_turn": last}
        turn = self.turn.get(pid, 0)
        req = Req(rid=f"{pid}/{turn}", origin_input_text="", origin_input_ids=ids,
                  sampling_params=SamplingParams(temperature=0, max_new_tokens=OUTPUT,
                                                 custom_params=custom))
        self.req[pid] = req
        self.ctl.on_queued(req, is_retracted=False)

    def admit(self, pid):
        req = self.req[pid]
        req.init_next_round_input(self.cache)
        need = len(req.origin_input_ids) - req.prefix_len
        req.lock = self.cache.lock(req.last_node)
        self.ctl.on_admitted(req)
        self.req_pool.alloc([req])
        row = req.kv.req_pool_idx
        self.req_pool.write((row, slice(0, req.prefix_len)),
                            self.cache.prefix_device_indices(req))
        self.req_pool.write((row, slice(req.prefix_len, len(req.origin_input_ids))),
                            alloc_token_slots(self.cache, need))
        req.kv.kv_committed_len = req.kv.kv_allocated_len = len(req.origin_input_ids)
        req.extend_end = len(req.origin_input_ids)

    def finish(self, pid):
        req = self.req[pid]
        output = ContextIds(self.pids.index(pid), len(req.origin_input_ids),
                            len(req.origin_input_ids) + OUTPUT)
        for token in output[:]:
            n = req.kv.kv_allocated_len
            self.req_pool.write((req.kv.req_pool_idx, slice(n, n + 1)),
                                alloc_token_slots(self.cache, 1))
            req.kv.kv_committed_len = req.kv.kv_allocated_len = n + 1
            req.output_ids.append(token)
        req.finished_reason = FINISH_LENGTH(length=OUTPUT)
        release_kv_cache(req, self.cache, checkpoint=True)
        self.context[pid] = len(req.origin_input_ids) + OUTPUT
        self.turn[pid] = self.turn.get(pid, 0) + 1

    def wait(self, seconds):
        self.clock.t += seconds
        self.ctl.tick()

    def evict(self):
        self.cache.evict(EvictParams(num_tokens=POOL))

    def relieve(self):
        assert self.ctl.relieve_pressure()

    def abort(self, pid):
        req = self.req[pid]
        req.finished_reason = FINISH_ABORT()
        self.ctl.on_aborted(req)


class SimSide:
    """The simulator engine's calls into its bridge, one program turn at a time."""

    def __init__(self, config=CONFIG, plain=False):
        self.log = Log()
        self.now = T0
        self.cache = PrefixCache(POOL)
        self.plain = plain
        self.bridge = CoreBridge(SimPolicy("conformance", ContinuumPolicy(config, POOL), True),
                                 self.cache, inference=ProgramInference())
        self.bridge.core = RecordingPolicy(self.bridge.core, self.log)
        self.bridge.locks = RecordingLocks(self.bridge.locks, self.log,
                                           lambda run: run.spec.program_id)
        self.runs: dict[str, ProgramRun] = {}
        self.req: dict[str, Request] = {}
        self.context: dict[str, int] = {}  # tokens of the last finished turn

    def arrive(self, pid, new, last):
        if pid not in self.runs:
            tools = (TOOLS[pid],) if pid in TOOLS else ()
            spec = ProgramSpec(pid, (Turn(1, OUTPUT, tools, 0.0),) * 8)
            self.runs[pid] = ProgramRun(spec, len(self.runs), ("", pid), self.now,
                                        plain=self.plain)
        run = self.runs[pid]
        if last:
            run.spec = ProgramSpec(pid, run.spec.turns[:run.turn] + (Turn(1, OUTPUT),))
        prompt = self.context.get(pid, 0) + new
        self.req[pid] = Request(run, run.turn, prompt, OUTPUT, self.now)
        self.bridge.arrival(self.req[pid], self.now)

    def admit(self, pid):
        req = self.req[pid]
        run = req.program
        hit = min(self.cache.cached(run.index), req.prompt)
        self.cache.pin(run.index)
        assert self.cache.make_room(req.prompt - hit)
        self.cache.grow(run.index, req.prompt - hit)
        self.bridge.admitted(req, self.now, hit)

    def finish(self, pid):
        req = self.req[pid]
        run = req.program
        self.cache.grow(run.index, OUTPUT)
        self.bridge.finished(req, self.now)
        self.cache.unpin(run.index, self.now)
        self.context[pid] = req.prompt + OUTPUT
        run.turn += 1

    def wait(self, seconds):
        self.now += seconds
        self.bridge.expire(self.now)

    def evict(self):
        assert self.cache.make_room(self.cache.free + self.cache.evictable)

    def relieve(self):
        assert self.bridge.relieve()

    def abort(self, pid):
        self.bridge.abort(self.runs[pid])


def play(side, scenario=SCENARIO):
    for event, *args in scenario:
        getattr(side, event)(*args)
    return side.log.entries


def play_inferred(side_cls):
    return play(side_cls(INFERRED_CONFIG, plain=True), INFERRED)


def test_server_and_simulator_make_the_same_calls():
    server, sim = play(ServerSide()), play(SimSide())
    assert server == sim
    calls = [entry[0] for entry in server]
    # The scenario reaches every path it was written for.
    assert calls.count("record_queue_delay") == 2 and calls.count("release_for_pressure") == 1
    assert calls.count("lock") == 6 and calls.count("unlock") == 6
    assert ("drop", (("", "b"),), "L5") in server


def test_with_a_host_tier_both_demote_where_they_unlocked():
    """The policy with a host tier over caches that have none (the radix cache here has
    no HiCache; the e2e test has): the same calls, each release a demote attempt that
    moves nothing, on both sides."""
    config = dataclasses.replace(CONFIG, host_tier=True)
    server, sim = play(ServerSide(config)), play(SimSide(config))
    assert server == sim
    calls = [entry[0] for entry in server]
    # Of the 6 locks, the 3 that lapse and the one that gives way demote; the one
    # consumed and the one dropped unlock.
    assert calls.count("demote") == 4 and calls.count("unlock") == 2


def _server_counts_every_later_turn_as_evicted(self, req):
    from sglang_continuum.adapter.controller import program_of

    key = program_of(req).key
    now = self.clock()
    handle = self.policy.on_admitted(key, now)
    if handle is not None:
        self.cache.unlock(handle)
    elif self.policy.turns_done(key):
        self.policy.record_queue_delay(now - req._continuum_arrival)


def _sim_counts_any_miss_as_evicted(self, req, now, hit):
    handle = self.core.on_admitted(req.program.key, now)
    if handle is not None:
        self.locks.unlock(handle)
    elif self.core.turns_done(req.program.key) and hit < req.prompt:
        self.core.record_queue_delay(now - req.arrival)


@pytest.mark.parametrize("side, cls, method, drifted", [
    ("server", Controller, "on_admitted", _server_counts_every_later_turn_as_evicted),
    ("sim", CoreBridge, "admitted", _sim_counts_any_miss_as_evicted),
])
def test_a_sequence_changed_on_one_side_alone_is_caught(monkeypatch, side, cls, method,
                                                        drifted):
    monkeypatch.setattr(cls, method, drifted)
    assert play(ServerSide()) != play(SimSide())


def test_default_mode_with_inferred_programs_makes_the_same_calls():
    server, sim = play_inferred(ServerSide), play_inferred(SimSide)
    assert server == sim
    calls = [entry[0] for entry in server]
    arrivals = [entry[1][0] for entry in server if entry[0] == "on_arrival"]
    # Inferred keys: a first turn is named after its request; continuations find it.
    assert arrivals[:3] == [("", "~t/0"), ("", "~u/0"), ("", "~p/0")]
    assert arrivals.count(("", "~t/0")) == 3 and arrivals.count(("", "~u/0")) == 4
    assert ("", "~q/0") in arrivals and not any(key[1].startswith("~s") for key in arrivals)
    finishes = [entry[1] for entry in server if entry[0] == "on_finish"]
    # (key, now, tokens, tool, last_turn, hint, open_ended, p_continue)
    assert all(f[6] is True for f in finishes)
    assert [f[3] for f in finishes if f[0] == ("", "~t/0")] == ["ls", "ls", None]
    assert [f[4] for f in finishes if f[0] == ("", "~t/0")] == [False, False, True]
    # The learned share (uniform prior): up as t's and u's first turns are continued,
    # down once p's is not within the continuation horizon; q locks by it.
    shares = [entry[1][0] for entry in server if entry[0] == "set_first_turn_share"]
    assert sorted(set(shares), key=shares.index) == [0.5, round(2 / 3, 6), 0.75, 0.6]
    assert [f[7] for f in finishes if f[0] == ("", "~q/0")] == [0.6]
    assert calls.count("release_for_pressure") == 1 and calls.count("lock") == 7
    assert ("drop", (("", "~u/0"),), "L6") in server


def _sim_without_inference(self, req, now):
    """The bridge before inference ran in the simulator: a run without an id locked
    as an explicit program with its spec's last turn (p_continue 1)."""
    run = req.program
    turn = run.spec.turns[req.turn]
    if run.plain and run.inferred is not None:
        last = req.turn == len(run.spec.turns) - 1
        return turns.finish(self.core, self.locks, run.key, now,
                            context_tokens=self.cache.cached(run.index), tool=turn.tool,
                            last_turn=last, ttl_hint_s=None, target=run, open_ended=True)
    return _BRIDGE_FINISHED(self, req, now)


def _server_never_learns_the_share(self, req, now):
    """The server's inference without the first-turn share: every request that
    continued nothing starts a new program, continued or not."""
    found = self.inference.arrival(tenant_of(req), req.origin_input_ids, str(req.rid), now)
    if found is None:
        return None
    self.policy.on_arrival(found.key, now)
    value = RequestProgram(found.key, ProgramHints(found.key[1]), inferred=True,
                           proven=found.proven)
    req._continuum_hints = value
    return value


_BRIDGE_FINISHED = CoreBridge.finished


@pytest.mark.parametrize("side, cls, method, drifted", [
    ("server", Controller, "_infer", _server_never_learns_the_share),
    ("sim", CoreBridge, "finished", _sim_without_inference),
])
def test_inference_changed_on_one_side_alone_is_caught(monkeypatch, side, cls, method,
                                                       drifted):
    monkeypatch.setattr(cls, method, drifted)
    assert play_inferred(ServerSide) != play_inferred(SimSide)
