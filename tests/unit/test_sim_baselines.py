"""The strongest stock baselines and the admission-gate comparison mode in the
simulator: SGLang's ``hrrn`` and ``shortest-prefill-first`` keys, host hits counted as
cached, and the gate's holds, on hand-built queues with exact orders."""

import math

import pytest

from sglang_continuum.core import PrefillModel
from sglang_continuum.core.admission_gate import AdmissionGate
from sglang_continuum.sim import Profile, Simulator, StepCoefficients
from sglang_continuum.sim.cache import PrefixCache
from sglang_continuum.sim.policies import LPM_MAX_QUEUE, PolicyContext, make_policy
from sglang_continuum.sim.request import ProgramRun, Request
from sglang_continuum.sim.workload import ProgramSpec, Turn


def _insert(cache, p, n, now=0.0):
    cache.pin(p)
    assert cache.make_room(n)
    cache.grow(p, n)
    cache.unpin(p, now)


def _queue(cached, prompts, queued_prefilled, host=False):
    cache = PrefixCache(100_000, host_tier=host)
    for p, n in enumerate(cached):
        if n:
            _insert(cache, p, n)
    waiting = []
    for p, (prompt, q) in enumerate(zip(prompts, queued_prefilled)):
        run = ProgramRun(ProgramSpec(f"P{p}", (Turn(prompt, 1),)), p, ("", f"P{p}"), float(p))
        req = Request(run, 0, prompt, 1, float(p))
        req.queued_at, req.queued_prefilled = float(p), q
        waiting.append(req)
    return cache, waiting


def _ids(waiting):
    return [r.program.spec.program_id for r in waiting]


CTX = PolicyContext(100_000, PrefillModel(0.0, 0.001, 0.0))


def test_hrrn_ranks_by_tokens_waited_over_uncached_tokens():
    # uncached 1000, 100, 400; waited (prefilled 1000 now) 1000, 50, 600 tokens:
    # ratios 1.0, 0.5, 1.5
    cache, waiting = _queue([0, 900, 600], [1000, 1000, 1000], [0, 950, 400])
    make_policy("hrrn", CTX).order_queue(waiting, 9.0, cache, 1000)
    assert _ids(waiting) == ["P2", "P0", "P1"]
    # nothing processed since they queued: every ratio 0, FCFS
    cache, waiting = _queue([0, 900, 600], [1000, 1000, 1000], [0, 950, 400])
    make_policy("hrrn", CTX).order_queue(waiting, 9.0, cache, 0)
    assert _ids(waiting) == ["P0", "P1", "P2"]


def test_spf_ranks_by_uncached_tokens_then_queue_entry():
    cache, waiting = _queue([0, 900, 600, 600], [1000, 1000, 1000, 1000], [0, 0, 0, 0])
    make_policy("spf", CTX).order_queue(waiting, 9.0, cache, 0)
    assert _ids(waiting) == ["P1", "P2", "P3", "P0"]


def test_spf_does_not_fall_back_to_fcfs_past_the_queue_limit_but_hrrn_does():
    n = LPM_MAX_QUEUE + 1
    cache, waiting = _queue([10 * p for p in range(n)], [5000] * n, [0] * n)
    make_policy("spf", CTX).order_queue(waiting, 0.0, cache, 0)
    assert [r.program.index for r in waiting] == list(reversed(range(n)))
    cache, waiting = _queue([10 * p for p in range(n)], [5000] * n, [0] * n)
    make_policy("hrrn", CTX).order_queue(waiting, 0.0, cache, 10_000)
    assert [r.program.index for r in waiting] == list(range(n))


@pytest.mark.parametrize("policy", ["lpm", "spf", "hrrn"])
def test_host_hits_count_as_cached(policy):
    # P0 has 800 tokens on the host only, P1 200 on the device
    cache, waiting = _queue([0, 200], [1000, 1000], [0, 0], host=True)
    _insert(cache, 0, 800)
    cache.demote(0)
    assert (cache.cached(0), cache.host_len(0)) == (0, 800)
    make_policy(policy, CTX).order_queue(waiting, 0.0, cache, 1000)
    assert _ids(waiting) == ["P0", "P1"]
    cache.host_tier = False      # the same state read without HiCache: device only
    make_policy(policy, CTX).order_queue(waiting, 0.0, cache, 1000)
    assert _ids(waiting) == ["P1", "P0"]


def test_gate_admits_a_prefix_in_first_arrival_order():
    gate = AdmissionGate(1000)
    assert gate.admitted(600, 2, [300, 100, 50]) == 2   # 900, 1000 fit; 1050 does not
    assert gate.admitted(600, 2, [500, 10]) == 0        # the older one does not fit, so
                                                        # the younger waits behind it
    assert gate.admitted(0, 0, [5000, 10]) == 1         # idle: the head always starts
    assert AdmissionGate(math.inf).admitted(10**9, 5, [10**9]) == 1
    with pytest.raises(ValueError, match="limit_tokens"):
        AdmissionGate(0)


K = StepCoefficients(a=0.0, b=0.001, c=0.0, d0=0.01, d1=0.0, d2=0.0)


def _prog(pid, *turns):
    return ProgramSpec(pid, tuple(Turn(p, o, () if g is None else ("bash",), g or 0.0)
                                  for p, o, g in turns))


def test_gate_holds_new_programs_while_resident_kv_would_not_fit():
    # A and B start (400 + 400 tokens of a 1,000-token pool); C (300) must wait until
    # one of them ends, though it arrives while both pause for tools; D, younger, never
    # overtakes C.
    progs = [_prog("A", (400, 2, 1.0), (420, 2, None)),
             _prog("B", (400, 2, 3.0), (420, 2, None)),
             _prog("C", (300, 2, None)), _prog("D", (50, 2, None))]
    arrivals = [0.0, 0.0, 0.5, 0.6]
    prof = Profile("tiny", K, 1000, chunk_size=4096, max_running=256)
    sim = Simulator(progs, arrivals, prof, "gate")
    sim.run()
    ends = {p.program_id: p.finish for p in sim.program_records}
    starts = {t.program_id: t.admitted for t in sim.turn_records if t.turn == 0}
    assert starts["C"] >= ends["A"] and starts["D"] >= starts["C"]
    assert sim.engine.deadlocks == 0
    free = Simulator(progs, arrivals, prof, "lru")
    free.run()
    fstarts = {t.program_id: t.admitted for t in free.turn_records if t.turn == 0}
    assert fstarts["C"] < ends["A"]
    # sized to device plus an unbounded host the gate never holds
    wide = Simulator(progs, arrivals, prof, "gate_host", host_tier=True)
    wide.run()
    assert {t.program_id: t.admitted for t in wide.turn_records if t.turn == 0}["C"] < ends["A"]


def test_a_parking_gate_holds_the_younger_programs_later_turn_until_the_older_ends():
    # A and B start together; B's tool returns first with a 700-token turn that would
    # not fit the 1,000-token pool beside A (402): with a park limit it waits until A
    # ends; without one it runs at once. The oldest resident is never parked.
    progs = [_prog("A", (400, 2, 1.0), (420, 2, None)),
             _prog("B", (400, 2, 0.2), (700, 2, None))]
    prof = Profile("tiny", K, 2000, chunk_size=4096, max_running=256)
    starts = {}
    for park in (1000, math.inf):
        sim = Simulator(progs, [0.0, 0.0], prof, "gate")
        sim.engine.bridge.policy.gate = AdmissionGate(math.inf, park)
        sim.run()
        ends = {p.program_id: p.finish for p in sim.program_records}
        starts[park] = {(t.program_id, t.turn): t.admitted for t in sim.turn_records}
        assert sim.engine.deadlocks == 0 and len(ends) == 2
    assert starts[1000][("B", 1)] >= ends["A"] > starts[math.inf][("B", 1)]
    assert starts[1000][("A", 1)] == starts[math.inf][("A", 1)]


def test_the_default_gates_new_programs_without_a_host_tier_only():
    # As the gate test above, with the server's default ("continuum"): without a host
    # tier C waits until A ends (A and B fill the pool, paused within the continuation
    # horizon); with one the default has no gate and C starts at once.
    progs = [_prog("A", (400, 2, 1.0), (420, 2, None)),
             _prog("B", (400, 2, 3.0), (420, 2, None)),
             _prog("C", (300, 2, None))]
    arrivals = [0.0, 0.0, 0.5]
    prof = Profile("tiny", K, 1000, chunk_size=4096, max_running=256)
    sim = Simulator(progs, arrivals, prof, "continuum")
    sim.run()
    ends = {p.program_id: p.finish for p in sim.program_records}
    starts = {t.program_id: t.admitted for t in sim.turn_records if t.turn == 0}
    assert starts["C"] >= ends["A"] and sim.engine.deadlocks == 0
    ungated = Simulator(progs, arrivals, prof, "continuum_ungated")
    ungated.run()
    assert {t.program_id: t.admitted for t in ungated.turn_records if t.turn == 0}["C"] \
        < ends["A"]
    host = Simulator(progs, arrivals, prof, "continuum", host_tier=True)
    assert host.engine.bridge.policy.gate is None


def test_a_paused_program_leaves_the_default_gates_table_after_the_horizon():
    # A pauses for a 90 s tool, past the horizon (max_ttl_s, 60 s, before 100 tool
    # calls have returned): B, which would not fit beside A, waits only until A has been
    # paused that long on the idle engine (which wakes then, with nothing else to wake
    # it), not until A ends.
    progs = [_prog("A", (900, 2, 90.0), (920, 2, None)), _prog("B", (500, 2, None))]
    prof = Profile("tiny", K, 1000, chunk_size=4096, max_running=256)
    sim = Simulator(progs, [0.0, 0.5], prof, "continuum")
    assert sim.engine.bridge.policy.gate.paused_s() == 60.0
    sim.run()
    turns = {(t.program_id, t.turn): t for t in sim.turn_records}
    paused_at = turns[("A", 0)].finish
    assert paused_at + 60.0 <= turns[("B", 0)].admitted < paused_at + 61.0
    assert turns[("B", 0)].admitted < turns[("A", 1)].arrival
    assert sim.engine.deadlocks == 0
