"""host_locks "fits": a finished turn goes unlocked while the live programs' contexts
fit the host pool (it evicts finished programs' copies first, and a paused program's
next turn reloads its own), and locks once they do not; programs that ended or went
idle past max_ttl_s leave the sum."""

from __future__ import annotations

import pytest

from sglang_continuum.core import ContinuumPolicy, PolicyConfig, turns
from sglang_continuum.core.host_rule import LiveContexts

CONTEXT = 1000


class HostCache:
    """KvLocks over a host tier of `size` tokens with `free` free slots."""

    def __init__(self, size, free=0):
        self.size, self.free, self.locked = size, free, 0

    def lock(self, target):
        self.locked += 1
        return object()

    def unlock(self, handle):
        pass

    def host_free_tokens(self):
        return self.free

    def host_capacity_tokens(self):
        return self.size


def _policy(cache, **kw):
    cfg = dict(host_locks="fits", host_tier=True, mode="fixed", fixed_ttl_s=5.0,
               cold_start_samples=0, max_ttl_s=60.0)
    pol = ContinuumPolicy(PolicyConfig(**{**cfg, **kw}), capacity_tokens=100_000)
    turns.start(pol, None, cache)
    return pol


def _finish(pol, cache, name, now, last=False, context=CONTEXT):
    key = ("", name)
    turns.arrive(pol, key, now)
    turns.admit(pol, cache, key, now, waited_s=0.0, cached_tokens=0, input_tokens=10)
    return turns.finish(pol, cache, key, now + 0.1, context_tokens=context, tool="bash",
                        last_turn=last, ttl_hint_s=None, target="node").reason


def test_unlocked_while_the_live_contexts_fit_then_locked():
    cache = HostCache(size=10 * CONTEXT)  # 0.9 of it: 9 contexts
    pol = _policy(cache)
    reasons = [_finish(pol, cache, f"p{i}", float(i)) for i in range(12)]
    assert reasons == ["host_tier"] * 9 + ["fixed"] * 3
    assert cache.locked == 3


def test_ended_programs_leave_the_working_set():
    cache = HostCache(size=10 * CONTEXT)
    pol = _policy(cache)
    for i in range(9):
        _finish(pol, cache, f"p{i}", float(i))
    assert _finish(pol, cache, "p9", 9.0) == "fixed"  # 10 live > 9
    _finish(pol, cache, "p0", 10.0, last=True)
    _finish(pol, cache, "p1", 10.0, last=True)
    assert _finish(pol, cache, "p9", 11.0) == "host_tier"  # 8 live


def test_idle_programs_leave_after_max_ttl():
    cache = HostCache(size=10 * CONTEXT)
    pol = _policy(cache, max_ttl_s=30.0)
    for i in range(9):
        _finish(pol, cache, f"p{i}", 0.0)
    assert _finish(pol, cache, "q", 1.0) == "fixed"
    assert _finish(pol, cache, "q", 40.0) == "host_tier"  # the nine went idle


def test_a_program_counts_its_latest_context_once():
    cache = HostCache(size=10 * CONTEXT)
    pol = _policy(cache)
    assert [_finish(pol, cache, "p", float(t)) for t in range(20)] == ["host_tier"] * 20
    assert _finish(pol, cache, "p", 20.0, context=9 * CONTEXT) == "host_tier"
    assert _finish(pol, cache, "p", 21.0, context=9 * CONTEXT + 1) == "fixed"


def test_free_slots_still_skip_the_lock_and_other_modes_ignore_the_size():
    cache = HostCache(size=CONTEXT, free=5 * CONTEXT)  # too small to fit, but free
    pol = _policy(cache)
    assert [_finish(pol, cache, f"p{i}", float(i)) for i in range(3)] == ["host_tier"] * 3
    roomy = HostCache(size=100 * CONTEXT)
    for mode in ("always", "room"):
        pol = _policy(roomy, host_locks=mode)
        assert _finish(pol, roomy, "p", 0.0) == "fixed"


def test_without_a_size_it_reads_the_free_slots_alone():
    class NoSize(HostCache):
        host_capacity_tokens = None

    cache = NoSize(size=0)
    pol = _policy(cache)
    assert _finish(pol, cache, "p", 0.0) == "fixed"


def test_live_contexts_bounded_and_bad_values_refused():
    live = LiveContexts(horizon_s=10.0, max_programs=3)
    for i in range(5):
        live.update(i, 100, float(i))
    assert len(live) == 3 and live.total(4.0) == 300
    live.arrived(9, 4.0)  # pending: counts as the mean (100); the oldest (2) leaves
    assert live.total(4.0) == 300 and len(live) == 3
    live.drop(4)
    assert live.total(4.0) == 200 and live.total(13.5) == 0
    for bad in (dict(host_fit_share=-0.1), dict(host_fit_share=float("nan")),
                dict(host_locks="fit")):
        with pytest.raises(ValueError, match=next(iter(bad))):
            PolicyConfig(**bad)
    pol = ContinuumPolicy(PolicyConfig(), capacity_tokens=10)
    with pytest.raises(ValueError, match="host capacity"):
        pol.set_host_capacity(-1)


def test_programs_still_in_their_first_turn_count_as_the_known_mean():
    # eight programs start together; the first to finish must not see a working set of
    # itself alone (a host pool of 5 contexts cannot hold eight)
    for size, expected in ((5 * CONTEXT, "fixed"), (10 * CONTEXT, "host_tier")):
        cache = HostCache(size=size)
        pol = _policy(cache)
        keys = [("", f"p{i}") for i in range(8)]
        for key in keys:
            turns.arrive(pol, key, 0.0)
        turns.admit(pol, cache, keys[0], 0.0, waited_s=0.0, cached_tokens=0,
                    input_tokens=10)
        d = turns.finish(pol, cache, keys[0], 1.0, context_tokens=CONTEXT, tool="bash",
                         last_turn=False, ttl_hint_s=None, target="node")
        assert d.reason == expected, size


def test_the_sims_tiers_add_up_under_write_back_only():
    from sglang_continuum.sim.bridge import ProgramLocks
    from sglang_continuum.sim.cache import PrefixCache

    wb = ProgramLocks(PrefixCache(100, host_tier=True, host_capacity=300))
    wt = ProgramLocks(PrefixCache(100, host_tier=True, host_capacity=300, write_through=True))
    none = ProgramLocks(PrefixCache(100))
    assert (wb.host_capacity_tokens(), wt.host_capacity_tokens(),
            none.host_capacity_tokens()) == (400, 300, None)


def test_the_snapshot_reports_the_working_set_the_capacity_and_the_unlocked_turns():
    cache = HostCache(size=10 * CONTEXT)
    pol = _policy(cache)
    for i in range(10):
        _finish(pol, cache, f"p{i}", float(i))
    snap = pol.snapshot(now=10.0)
    assert snap.live_context_tokens == 10 * CONTEXT
    assert snap.host_capacity_tokens == 10 * CONTEXT
    assert snap.turns_unlocked_host == 9 and snap.locks_set == 1  # the tenth locked
    assert pol.snapshot().live_context_tokens == 0.0  # taken without now
