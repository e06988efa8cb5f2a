"""The capacity bound on a closed loop's mean JCT (sim/bounds.py): hand-computed cases,
and the simulator never beating it, whatever the policy, the pool or the batch cap."""

import math
from dataclasses import replace

import pytest

from sglang_continuum.sim import Simulator, load_profile
from sglang_continuum.sim.bounds import Solo, mean_jct_bound, solos_from_turns
from sglang_continuum.sim.workload import load_workload


def test_two_slots_eight_equal_programs_all_at_once():
    # k programs of 1 s of service done by max(1, k/2) s (McNaughton): 1, 1, 1.5, ... 4
    b = mean_jct_bound([Solo(floor=1.0, service=1.0)] * 8, concurrency=8, slots=2)
    assert b.mean == pytest.approx((1 + 1 + 1.5 + 2 + 2.5 + 3 + 3.5 + 4) / 8)
    assert b.binding == "batch"
    assert b.floor == pytest.approx(1.0)


def test_no_limit_leaves_the_floor():
    solos = [Solo(floor=f, service=f / 2, area=100 * f) for f in (3.0, 5.0, 10.0)]
    b = mean_jct_bound(solos, concurrency=3)
    assert b.mean == pytest.approx(6.0) == b.floor
    assert b.batch == pytest.approx(3.0)  # each program's own service, nothing shared
    assert b.kv == 0.0


def test_the_pool_binds_when_areas_exceed_it():
    # areas 100 token-s each, pool 50 tokens: the k-th completion no earlier than 2k s
    b = mean_jct_bound([Solo(floor=1.0, service=0.5, area=100.0)] * 4, concurrency=4,
                       pool=50)
    assert b.mean == pytest.approx((2 + 4 + 6 + 8) / 4) == b.kv
    assert b.binding == "kv"


def test_closed_loop_counts_the_last_concurrency_completions():
    # 4 programs, 2 at a time, one slot: tau = 1, 2, 3, 4; sum JCT >= tau_3 + tau_4
    b = mean_jct_bound([Solo(floor=1.0, service=1.0)] * 4, concurrency=2, slots=1)
    assert b.batch == pytest.approx((3 + 4) / 4)
    # and never below the floors' sum
    assert b.mean == pytest.approx(max(7 / 4, 1.0))


@pytest.mark.parametrize("kwargs,field", [
    (dict(solos=[], concurrency=1), "solos"),
    (dict(solos=[Solo(1, 1)], concurrency=0), "concurrency"),
    (dict(solos=[Solo(1, 1)], concurrency=1, slots=0), "slots"),
    (dict(solos=[Solo(1, 1)], concurrency=1, pool=-5), "pool"),
])
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        mean_jct_bound(**kwargs)


def test_solo_rejects_negative_or_nan():
    with pytest.raises(ValueError, match="Solo.service"):
        Solo(floor=1.0, service=-1.0)
    with pytest.raises(ValueError, match="Solo.area"):
        Solo(floor=1.0, service=1.0, area=math.nan)


def _solos(progs, profile):
    sim = Simulator(progs, None, replace(profile, kv_capacity_tokens=10**9), "lru",
                    concurrency=1)
    sim.run()
    return solos_from_turns(sim.turn_records), {r.program_id: r.jct
                                                for r in sim.program_records}


def test_solos_from_turns_match_the_solo_run():
    profile = load_profile("llama3.1-8b-h100")
    progs = load_workload("trace", 4, 0)
    solos, jct = _solos(progs, profile)
    for pid, s in solos.items():
        assert s.floor == pytest.approx(jct[pid])
        assert 0 < s.service < s.floor  # the tool gaps are outside the engine
        assert s.area > 0


@pytest.mark.parametrize("policy", ["lru", "lpm", "spf", "continuum"])
@pytest.mark.parametrize("pools,cap,concurrency", [(1.5, 2, 4), (6, 1, 8), (1.2, 256, 6)])
def test_no_policy_beats_the_bound(policy, pools, cap, concurrency):
    """The bound holds for every schedule: the simulator, under contention, is never
    below it (and the batch or the pool binds: the test can fail). The pool is
    ``pools`` times the largest context (8,192 tokens more: a prefill chunk)."""
    profile = load_profile("llama3.1-8b-h100")
    progs = load_workload("trace", 8, 0)
    kv = int(pools * max(t.prompt + t.output for p in progs for t in p.turns)) + 8192
    solos, _ = _solos(progs, profile)
    ids = [p.program_id for p in progs]
    bound = mean_jct_bound([solos[i] for i in ids], concurrency, slots=cap, pool=kv)
    sim = Simulator(progs, None, replace(profile, kv_capacity_tokens=kv, max_running=cap),
                    policy, concurrency=concurrency)
    summary = sim.run()
    assert summary.aborted_programs == 0
    assert summary.jct_mean >= bound.mean * (1 - 1e-9)
    assert bound.mean > bound.floor


def test_a_slower_engine_raises_the_bound():
    solos = [Solo(floor=1.0, service=1.0)] * 8
    two = mean_jct_bound(solos, concurrency=8, slots=2)
    one = mean_jct_bound(solos, concurrency=8, slots=2, rate=1.0)
    assert one.mean == pytest.approx(sum(range(1, 9)) / 8)
    assert one.mean > two.mean
    # a rate above the slots changes nothing: each slot is at most solo speed
    assert mean_jct_bound(solos, concurrency=8, slots=2, rate=5.0) == two
    with pytest.raises(ValueError, match="rate"):
        mean_jct_bound(solos, concurrency=8, rate=0)


def test_the_engine_and_the_pool_share_the_load():
    # one slot's worth of unshared compute each (1 s), no pool: k done by k s
    solos = [Solo(floor=1.0, service=1.0, compute=1.0)] * 4
    assert mean_jct_bound(solos, concurrency=4).engine == pytest.approx((1 + 2 + 3 + 4) / 4)
    # a gap of 10 s over 100 tokens: held, 1000 token-s of a 100-token pool (10 s);
    # rebuilt, 1 s of engine: the cheaper mix costs about 1 s more per program
    gap = Solo(floor=1.0, service=0.0, gaps=((100, 10.0, 0.01),))
    b = mean_jct_bound([gap] * 2, concurrency=2, pool=100)
    assert 0.9 < b.engine <= 1.5 and b.binding == "engine"
    # with a host tier the context may come back for nothing: no load
    free = Solo(floor=1.0, service=0.0, gaps=((100, 10.0, 0.0),))
    assert mean_jct_bound([free] * 2, concurrency=2, pool=100).engine == 0.0
    with pytest.raises(ValueError, match=r"Solo.gaps\[0\]"):
        Solo(floor=1.0, service=1.0, gaps=((100, 1.0),))


@pytest.mark.parametrize("policy", ["lru", "lpm", "continuum"])
@pytest.mark.parametrize("host", [False, True])
def test_the_engine_bound_holds_in_the_simulator(policy, host):
    """The shared trace's 8 programs at once, the pool a quarter of their largest
    contexts, no batch cap: without a host tier the engine's seconds and the pool
    together bind above the floor; no policy beats the bound."""
    profile = load_profile("llama3.1-8b-h100")
    progs = load_workload("trace", 8, 0)
    sim = Simulator(progs, None, replace(profile, kv_capacity_tokens=10**9), "lru",
                    concurrency=1)
    sim.run()
    solos = solos_from_turns(sim.turn_records, progs, profile.coefficients, host_tier=host)
    kv = sum(max(t.prompt + t.output for t in p.turns) for p in progs) // 4
    bound = mean_jct_bound([solos[p.program_id] for p in progs], 8, slots=256, pool=kv)
    run = Simulator(progs, None, replace(profile, kv_capacity_tokens=kv), policy,
                    host_tier=host, concurrency=8)
    summary = run.run()
    assert summary.aborted_programs == 0
    assert summary.jct_mean >= bound.mean * (1 - 1e-9)
    assert bound.engine >= bound.kv
    if not host:
        assert bound.engine > max(bound.floor, bound.kv, bound.batch)
