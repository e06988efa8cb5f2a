"""Each policy on small hand-built cases, with exact expected orders and hits.

Tiny engine: prefill 1 ms/token, decode 10 ms/step, nothing else.
"""

import pytest

from sglang_continuum.sim import Profile, Simulator, StepCoefficients
from sglang_continuum.sim.workload import ProgramSpec, Turn

K = StepCoefficients(a=0.0, b=0.001, c=0.0, d0=0.01, d1=0.0, d2=0.0)


def profile(capacity, max_running=256):
    return Profile("tiny", K, capacity, chunk_size=4096, max_running=max_running)


def prog(pid, *turns):
    return ProgramSpec(pid, tuple(Turn(p, o, () if g is None else ("bash",), g or 0.0)
                                  for p, o, g in turns))


def run(programs, arrivals, capacity, policy, max_running=256):
    sim = Simulator(programs, arrivals, profile(capacity, max_running), policy)
    return sim, sim.run()


# P0's second turn returns while P1 runs; P2 (a newer program) arrived before it.
ORDER_CASE = (
    [prog("P0", (100, 10, 0.5), (200, 10, None)), prog("P1", (100, 200, None)),
     prog("P2", (100, 10, None))],
    [0.0, 0.1, 0.6],
)
EXPECTED = {
    "lru": ["P2", "P0"], "continuum": ["P0", "P2"],
    "old_default": ["P0", "P2"], "paper": ["P0", "P2"], "fixed_60": ["P0", "P2"],
    "keep_until_close": ["P0", "P2"],
}


@pytest.mark.parametrize("policy", sorted(EXPECTED))
def test_queue_order_after_contention(policy):
    sim, _ = run(*ORDER_CASE, capacity=10_000, policy=policy, max_running=1)
    admitted = sorted(sim.turn_records, key=lambda t: t.admitted)
    order = [(t.program_id, t.turn) for t in admitted]
    assert order[:2] == [("P0", 0), ("P1", 0)]
    assert [pid for pid, _ in order[2:]] == EXPECTED[policy]


# P0 pauses 1 s in a tool; P2 finishes later (more recent); P1 then needs room:
# 52 tokens for its prompt, 1 for its decode step. (Capacity 1000: P0's 201 tokens
# are within the core's default per-program lock cap of 25%.)
EVICT_CASE = (
    [prog("P0", (200, 2, 1.0), (210, 2, None)), prog("P2", (200, 2, None)),
     prog("P1", (650, 2, None))],
    [0.0, 0.25, 0.5],
)


@pytest.mark.parametrize("policy,hit", [
    ("lru", 148), ("slru", 148), ("fixed_2", 201), ("keep_until_close", 201),
])
def test_lock_protects_a_paused_program_from_lru_eviction(policy, hit):
    sim, summary = run(*EVICT_CASE, capacity=1000, policy=policy)
    second = next(t for t in sim.turn_records if (t.program_id, t.turn) == ("P0", 1))
    assert second.hit == hit
    assert summary.deadlocks == 0


def test_cost_models_cold_start_skips_cheap_contexts_uncontended_fixed_does_not():
    # Rebuilding 201 tokens costs 0.2 s < the 1 s Exp prior mean, and nothing has met
    # pressure yet (price 1): neither the paper's rule nor the priced rules lock.
    for policy in ("continuum_priced", "continuum_quantile", "old_default", "paper"):
        sim, s = run(*EVICT_CASE, capacity=1000, policy=policy)
        assert s.policy_snapshot["locks_set"] == 0
    fast = [prog("P0", (200, 2, 0.1), (210, 2, None))]
    sim, s = run(fast, [0.0], capacity=1000, policy="fixed_1")
    assert s.policy_snapshot["locks_set"] == 1
    assert s.policy_snapshot["locks_consumed"] == 1


def test_pressure_releases_locks_before_anything_waits():
    # fixed_2 locks P0 (2 s) but P1 needs the room and nothing runs: the lock goes, P1 is
    # not delayed.
    case = ([prog("P0", (240, 2, 1.5), (250, 2, None)), prog("P1", (800, 2, None))],
            [0.0, 0.5])
    sim, s = run(*case, capacity=1000, policy="fixed_2")
    p1 = next(t for t in sim.turn_records if t.program_id == "P1")
    assert p1.admitted == pytest.approx(0.5)
    assert s.policy_snapshot["locks_released_pressure"] == 1


def test_keep_until_close_deadlock_is_detected_and_broken():
    case = ([prog("P0", (400, 2, 1.5), (410, 2, None)), prog("P1", (400, 2, None))],
            [0.0, 0.5])
    sim, s = run(*case, capacity=600, policy="keep_until_close")
    assert s.deadlocks >= 1 and s.forced_lock_drops == 1
    assert s.aborted_programs == 0 and len(sim.program_records) == 2


def test_request_larger_than_memory_is_aborted_not_hung():
    sim, s = run([prog("P0", (900, 2, None))], [0.0], capacity=600, policy="lru")
    assert s.aborted_programs == 1


def test_decode_out_of_memory_retracts_the_latest_admitted():
    # Admission counts 0.7 of the owed decode tokens (SGLang's new_token_ratio), so
    # three 100+300 requests get in and outgrow 1000 tokens: P2 (admitted last) goes.
    case = ([prog(f"P{i}", (100, 300, None)) for i in range(3)], [0.0, 0.001, 0.002])
    sim, s = run(*case, capacity=1000, policy="lru")
    recs = {t.program_id: t for t in sim.turn_records}
    assert s.retractions == 1
    assert [recs[p].retractions for p in ("P0", "P1", "P2")] == [0, 0, 1]
    assert recs["P2"].finish > max(recs["P0"].finish, recs["P1"].finish)


def test_default_locks_a_cheap_context_even_uncontended():
    # Memory is free to hold under scope "younger" (PolicyConfig.contention_saturation 0):
    # the default locks where the priced rules above do not, and the paused program's
    # second turn finds its context.
    sim, s = run(*EVICT_CASE, capacity=1000, policy="continuum")
    assert s.policy_snapshot["locks_set"] >= 1 and s.policy_snapshot["memory_price"] == 0.0
    second = next(t for t in sim.turn_records if (t.program_id, t.turn) == ("P0", 1))
    assert second.hit == 201


def test_the_deadlock_breaker_drops_through_the_core():
    case = ([prog("P0", (400, 2, 1.5), (410, 2, None)), prog("P1", (400, 2, None))],
            [0.0, 0.5])
    sim, s = run(*case, capacity=600, policy="keep_until_close")
    snap = s.policy_snapshot
    assert s.forced_lock_drops == 1 and snap["locks_dropped"] >= s.forced_lock_drops
    assert snap["active_locks"] == 0 and not sim.cache.locked()  # the core and the cache agree


@pytest.mark.parametrize("host_tier", [False, True])
def test_the_default_with_another_age_cap_differs_only_there(host_tier):
    from dataclasses import replace

    from sglang_continuum.core import PolicyConfig, PrefillModel
    from sglang_continuum.sim.policies import PolicyContext, make_policy
    ctx = PolicyContext(10_000, PrefillModel(0.0, 0.001, 0.0), host_tier=host_tier)
    default, capped = make_policy("continuum", ctx), make_policy("continuum_cap720", ctx)
    assert default.core.config.queue_age_cap_s == PolicyConfig().queue_age_cap_s
    assert capped.core.config.queue_age_cap_s == 720.0
    assert replace(capped.core.config, queue_age_cap_s=PolicyConfig().queue_age_cap_s) \
        == default.core.config
    assert (capped.drop_ended, type(capped.gate)) == (default.drop_ended, type(default.gate))
    assert make_policy("continuum_cap_inf", ctx).core.config.first_turn_cap_s == float("inf")
