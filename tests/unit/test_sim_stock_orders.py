"""Stock SGLang's alternatives in the simulator: each eviction order (SLRU, T-LRU, radix
sessions) and ``--schedule-policy lpm`` on small hand-built cases, exact orders."""

import pytest

from sglang_continuum.core import PrefillModel
from sglang_continuum.sim import Profile, Simulator, StepCoefficients
from sglang_continuum.sim.cache import PrefixCache
from sglang_continuum.sim.eviction import LRU, SLRU, TLRU, Sessions
from sglang_continuum.sim.policies import (LPM_MAX_QUEUE, STOCK, PolicyContext, make_policy,
                                           tokens_within)
from sglang_continuum.sim.request import ProgramRun, Request
from sglang_continuum.sim.workload import ProgramSpec, Turn

K = StepCoefficients(a=0.0, b=0.001, c=0.0, d0=0.01, d1=0.0, d2=0.0)


def profile(capacity):
    return Profile("tiny", K, capacity, chunk_size=4096, max_running=256)


def prog(pid, *turns):
    return ProgramSpec(pid, tuple(Turn(p, o, () if g is None else ("bash",), g or 0.0)
                                  for p, o, g in turns))


def insert(cache, p, n, now):
    """A request of ``p`` admitted, ``n`` new tokens computed, finished (inserted)."""
    cache.pin(p)
    assert cache.make_room(n)
    cache.grow(p, n)
    cache.unpin(p, now)


def two_programs(order):
    """Program 1: 30 tokens inserted twice, last access 1.0 (older). Program 0: 40 tokens,
    then 20 more by a second request, last access 2.0 (newer). 10 tokens free."""
    c = PrefixCache(100, order=order)
    insert(c, 1, 30, now=0.5)
    insert(c, 1, 0, now=1.0)
    insert(c, 0, 40, now=1.5)
    insert(c, 0, 20, now=2.0)
    assert (c.cached(0), c.cached(1), c.free) == (60, 30, 10)
    return c


def test_lru_takes_the_older_program_first():
    c = two_programs(LRU())
    assert c.make_room(30) and (c.cached(0), c.cached(1)) == (60, 10)


def test_slru_takes_probationary_tails_before_protected_prefixes():
    c = two_programs(SLRU())
    # program 0's last 20 tokens were inserted once (probationary), the rest twice
    assert c.make_room(30) and (c.cached(0), c.cached(1)) == (40, 30)
    # protected segment: LRU again (program 1 is older)
    assert c.make_room(50) and (c.cached(0), c.cached(1)) == (40, 10)
    assert c.make_room(80) and (c.cached(0), c.cached(1)) == (20, 0)


def test_slru_hit_counts_restart_for_evicted_tokens_and_ignore_retractions():
    c = two_programs(SLRU())
    assert c.make_room(60) and (c.cached(0), c.cached(1)) == (40, 0)
    c.pin(0)
    c.truncate(0, 25)                    # a retraction frees what it computed
    c.unpin(0, 3.0, inserted=False)      # and inserts nothing
    insert(c, 1, 10, now=4.0)            # program 1 back, once: probationary, newer
    # program 0 (older access): tokens [0, 25) were inserted twice and survived, still
    # protected; program 1's re-created tokens count one insert: probationary, go first
    assert c.make_room(c.free + 10) and (c.cached(0), c.cached(1)) == (25, 0)


def test_tlru_drains_tail_tokens_past_the_budget_first_then_lru():
    # keep = high water + 10 - 30: program 0 keeps 40 of 60, program 1 keeps 10 of 30
    c = two_programs(TLRU(threshold=30, next_prompt_estimate=10))
    assert c.make_room(30) and (c.cached(0), c.cached(1)) == (60, 10)   # older safe tail
    assert c.make_room(50) and (c.cached(0), c.cached(1)) == (40, 10)   # newer safe tail
    # phase 2: plain LRU; the high water does not shrink, so no new safe tokens appear
    assert c.make_room(60) and (c.cached(0), c.cached(1)) == (40, 0)
    assert c.make_room(70) and c.cached(0) == 30


def test_tlru_defaults_are_plain_lru():
    c = two_programs(TLRU())
    assert c.make_room(30) and (c.cached(0), c.cached(1)) == (60, 10)


def test_sessions_keep_live_programs_after_closed_ones():
    c = two_programs(Sessions())
    c.close(0)                           # program 0 ended: its session closed
    assert c.make_room(50) and (c.cached(0), c.cached(1)) == (20, 30)
    c2 = two_programs(Sessions())        # both live: LRU
    assert c2.make_room(30) and (c2.cached(0), c2.cached(1)) == (60, 10)


def test_orders_reject_bad_parameters():
    with pytest.raises(ValueError, match="protected_threshold"):
        SLRU(0)
    with pytest.raises(ValueError, match="TLRU.threshold"):
        TLRU(threshold=-1)


def _queue(cache_lens, arrivals):
    cache = PrefixCache(10_000)
    for p, n in enumerate(cache_lens):
        if n:
            insert(cache, p, n, now=0.0)
    runs = [ProgramRun(ProgramSpec(f"P{p}", (Turn(500, 1),)), p, ("", f"P{p}"), a)
            for p, a in enumerate(arrivals)]
    return cache, [Request(r, 0, 500, 1, r.arrival) for r in runs]


def _ctx():
    return PolicyContext(10_000, PrefillModel(0.0, 0.001, 0.0))


def test_lpm_orders_by_cached_prefix_then_fcfs():
    cache, waiting = _queue([50, 200, 0], [1.0, 2.0, 0.5])
    make_policy("lpm", _ctx()).order_queue(waiting, 3.0, cache)
    assert [r.program.spec.program_id for r in waiting] == ["P1", "P0", "P2"]
    make_policy("lru", _ctx()).order_queue(waiting, 3.0, cache)
    assert [r.program.spec.program_id for r in waiting] == ["P2", "P0", "P1"]


def test_lpm_falls_back_to_fcfs_past_the_queue_limit():
    n = LPM_MAX_QUEUE + 1
    cache, waiting = _queue([10 * p for p in range(n)], [float(p) for p in range(n)])
    make_policy("lpm", _ctx()).order_queue(waiting, 0.0, cache)
    assert [r.program.index for r in waiting] == list(range(n))


def test_tlru_threshold_is_what_the_engine_prefills_within_the_budget():
    assert tokens_within(PrefillModel(0.0, 0.001, 0.0), 1.0) == 1000
    assert tokens_within(PrefillModel(2.0, 0.001, 0.0), 1.0) == 0


def test_sessions_in_the_simulator_keep_a_paused_program_over_a_finished_one():
    # P0 pauses 1 s; P2 (one turn) finishes later, so LRU evicts P0's tail for P1's
    # prompt, while radix sessions keep P0 (live session) and evict the closed P2.
    progs = [prog("P0", (200, 2, 1.0), (210, 2, None)), prog("P2", (200, 2, None)),
             prog("P1", (650, 2, None))]
    hits = {}
    for policy, capacity in (("lru", 100_000), ("lru", 1000), ("radix_sessions", 1000)):
        sim = Simulator(progs, [0.0, 0.25, 0.5], profile(capacity), policy)
        sim.run()
        hits[policy, capacity] = {(t.program_id, t.turn): t.hit for t in sim.turn_records}
    full = hits["lru", 100_000][("P0", 1)]
    assert full >= 200
    assert hits["lru", 1000][("P0", 1)] < full
    assert hits["radix_sessions", 1000][("P0", 1)] == full


@pytest.mark.parametrize("policy", STOCK)
def test_every_stock_policy_runs_and_never_locks(policy):
    progs = [prog("A", (300, 5, 0.5), (400, 5, None)), prog("B", (300, 5, None))]
    sim = Simulator(progs, [0.0, 0.1], profile(800), policy)
    summary = sim.run()
    assert summary.programs == 2
    assert sim.policy.core.snapshot().locks_set == 0



def _sized_queue():
    """P0: a 1,000-token prompt with 200 cached (800 to prefill); P1: 300 tokens, none
    cached. lpm takes P0 first (longer match), fewest-uncached-first P1."""
    cache = PrefixCache(10_000)
    insert(cache, 0, 200, now=0.0)
    runs = [ProgramRun(ProgramSpec(f"P{p}", (Turn(n, 1),)), p, ("", f"P{p}"), a)
            for p, (n, a) in enumerate(((1000, 1.0), (300, 2.0)))]
    return cache, [Request(r, 0, r.spec.turns[0].prompt, 1, r.arrival) for r in runs]


@pytest.mark.parametrize("stock", ["lpm", "spf", "hrrn"])
def test_the_default_in_a_stock_order_sorts_as_that_stock_policy(stock):
    """``continuum_order_<stock>``: the server's default with the queue left in SGLang's
    order (live arm ``overlay-hicache-lpm``)."""
    orders = {}
    for name in (stock, f"continuum_order_{stock}", "continuum"):
        cache, waiting = _sized_queue()
        make_policy(name, _ctx()).order_queue(waiting, 3.0, cache, 1000)
        orders[name] = [r.program.spec.program_id for r in waiting]
    assert orders[f"continuum_order_{stock}"] == orders[stock]
    assert orders["continuum"] == ["P1", "P0"]  # the default's own order: srpt
    if stock == "lpm":
        assert orders[stock] == ["P0", "P1"]
