"""Which locks give way to a waiting request that does not fit (pressure_scope)."""

from __future__ import annotations

import pytest

from sglang_continuum.core import ContinuumPolicy, PolicyConfig


def _policy(scope, plain="fcfs", names=("old", "mid", "young"), **cfg):
    cfg.setdefault("queue_age_cap_s", 180.0)
    pol = ContinuumPolicy(PolicyConfig(pressure_scope=scope, per_program_max_fraction=1.0,
                                       lock_budget_fraction=1.0, plain_requests=plain, **cfg),
                          capacity_tokens=10_000)
    for t, name in enumerate(names):
        key = ("", name)
        pol.on_arrival(key, float(t))
        pol.on_admitted(key, float(t))
        pol.on_finish(key, float(t) + 0.5, 100, "bash", False, ttl_hint_s=60.0)
        pol.set_lock(key, float(t) + 0.5, 60.0, 100, name)
    return pol


def test_any_scope_releases_youngest_whoever_waits():
    pol = _policy("any")
    pol.on_arrival(("", "new"), 10.0)
    got = [pol.release_for_pressure(("", "old"), 0.0, engine_idle=False)[1] for _ in range(3)]
    assert got == ["young", "mid", "old"]


def test_younger_scope_keeps_locks_of_programs_older_than_the_head():
    pol = _policy("younger")
    # the head is a turn of "mid": only "young" arrived after it
    assert pol.release_for_pressure(("", "mid"), 5.0, engine_idle=False)[1] == "young"
    assert pol.release_for_pressure(("", "mid"), 5.0, engine_idle=False) is None
    # a request without a program is bounded by its own arrival
    assert pol.release_for_pressure(None, 1.5, engine_idle=False) is None
    assert pol.snapshot().active_locks == 2


def test_plain_ahead_head_takes_the_youngest_lock_first():
    pol = _policy("younger", plain="ahead")
    # a request without a program, arrived before every program, still takes locks
    got = [pol.release_for_pressure(None, 0.1, engine_idle=False)[1] for _ in range(3)]
    assert got == ["young", "mid", "old"]
    # a program's turn is still bounded as before
    pol = _policy("younger", plain="ahead")
    assert pol.release_for_pressure(("", "mid"), 5.0, engine_idle=False)[1] == "young"
    assert pol.release_for_pressure(("", "mid"), 5.0, engine_idle=False) is None


def test_plain_aged_head_takes_locks_of_programs_younger_than_its_rank():
    pol = _policy("younger", plain="aged")   # programs began at 0, 1, 2; age cap 180 s
    # a plain request arriving at 181.5 ranks at 1.5: only "young" (2) gives way
    assert pol.release_for_pressure(None, 181.5, engine_idle=False)[1] == "young"
    assert pol.release_for_pressure(None, 181.5, engine_idle=False) is None


def test_younger_scope_never_lets_the_engine_idle():
    pol = _policy("younger")
    pol.on_arrival(("", "new"), 10.0)
    assert pol.release_for_pressure(("", "new"), 10.0, engine_idle=False) is None
    assert pol.release_for_pressure(("", "new"), 10.0, engine_idle=True)[1] == "young"


def test_decode_pressure_releases_any():
    pol = _policy("younger")
    assert pol.release_for_pressure()[1] == "young"


def test_bad_scope_is_rejected():
    with pytest.raises(ValueError, match="pressure_scope"):
        PolicyConfig(pressure_scope="oldest")


def test_zero_token_locks_of_one_tenant_release_cleanly():
    pol = ContinuumPolicy(PolicyConfig(), capacity_tokens=1000)
    for name in ("a", "b"):
        pol.on_arrival(("t1", name), 0.0)
        pol.on_finish(("t1", name), 0.1, 0, None, False, ttl_hint_s=5.0)
        pol.set_lock(("t1", name), 0.1, 5.0, 0, name)
    assert sorted(h for _, h in pol.expired(10.0)) == ["a", "b"]
    assert pol.snapshot().locked_tokens == 0


def test_host_scope_is_any_with_a_host_tier_and_younger_without():
    def policy(host_tier):
        return _policy("host", plain="aged", names=("old", "young"), host_tier=host_tier)
    # the head is a turn of "old": without a host tier the younger lock alone gives way
    without = policy(False)
    assert without.release_for_pressure(("", "old"), 2.0, engine_idle=False)[1] == "young"
    assert without.release_for_pressure(("", "old"), 2.0, engine_idle=False) is None
    with_host = policy(True)
    got = [with_host.release_for_pressure(("", "old"), 2.0, engine_idle=False)[1]
           for _ in range(2)]
    assert got == ["young", "old"]


def test_host_room_scope_is_any_while_the_host_pool_could_take_every_lock():
    def policy(host_tier=True):
        return _policy("host_room", plain="aged", names=("old", "young"),
                       host_tier=host_tier)
    head = ("", "old")
    # room for every lock's context (100 tokens each): any lock gives way
    pol = policy()
    assert [pol.release_for_pressure(head, 2.0, False, host_free=100)[1]
            for _ in range(2)] == ["young", "old"]
    # too little room, or none said: only the younger program's lock
    for free in (99, None):
        pol = policy()
        assert pol.release_for_pressure(head, 2.0, False, host_free=free)[1] == "young"
        assert pol.release_for_pressure(head, 2.0, False, host_free=free) is None
    # without a host tier free host memory means nothing
    pol = policy(host_tier=False)
    assert pol.release_for_pressure(head, 2.0, False, host_free=10**6)[1] == "young"
    assert pol.release_for_pressure(head, 2.0, False, host_free=10**6) is None


def test_host_room_scope_counts_room_in_the_fit_too():
    pol = _policy("host_room", plain="aged", names=("old", "young"), host_tier=True)
    head = ("", "old")
    # the head lacks 150 tokens: the younger lock alone frees 100
    assert not pol.pressure_could_fit(150, head, 2.0, engine_idle=False, host_free=0)
    assert pol.pressure_could_fit(150, head, 2.0, engine_idle=False, host_free=100)


def test_relieve_reads_the_host_pool_through_the_cache():
    from sglang_continuum.core import turns

    class Cache:
        def __init__(self, free):
            self.free, self.released = free, []

        def unlock(self, handle):
            self.released.append(handle)

        def demote(self, handle):
            self.released.append(handle)

        def unhold(self, handle):
            pass

        def host_free_tokens(self):
            return self.free

    for free, expected in ((1000, ["young", "old"]), (10, ["young"])):
        pol = _policy("host_room", plain="aged", names=("old", "young"), host_tier=True)
        cache = Cache(free)
        while turns.relieve(pol, cache, ("", "old"), 2.0, engine_idle=False):
            pass
        assert cache.released == expected


def test_no_lock_while_the_host_pool_could_take_the_context():
    def decide(host_free, host_tier=True, hint=None, rule="room"):
        pol = ContinuumPolicy(PolicyConfig(host_locks=rule, host_tier=host_tier,
                                           cold_start_samples=0, fixed_ttl_s=5.0,
                                           mode="fixed"), capacity_tokens=10_000)
        pol.on_arrival(("", "p"), 0.0)
        return pol.on_finish(("", "p"), 1.0, 500, "bash", False, ttl_hint_s=hint,
                             host_free=host_free)
    assert decide(500) == (0.0, "host_tier")
    for free in (499, None):  # no room, or no host pool said: the usual decision
        assert decide(free).ttl_s == 5.0
    assert decide(10**6, host_tier=False).ttl_s == 5.0
    assert decide(10**6, rule="always").ttl_s == 5.0
    assert decide(10**6, hint=7.0) == (7.0, "hint")  # a client's hint still locks
    with pytest.raises(ValueError, match="host_locks"):
        PolicyConfig(host_locks="never")


def test_locks_outweighing_the_running_contexts_give_way_as_to_an_idle_engine():
    # three locks pin 300 tokens; a younger program's turn waits while the engine runs
    pol = _policy("younger", lock_running_ratio=2.0)
    pol.on_arrival(("", "new"), 10.0)
    assert not pol.locks_outweigh(150)      # 300 <= 2 x 150: younger scope holds
    idle = pol.locks_outweigh(149)          # 300 > 2 x 149: any lock may give way
    assert idle
    assert pol.release_for_pressure(("", "new"), 10.0, engine_idle=idle)[1] == "young"
    # off (0, the default): never, however little runs
    assert not _policy("younger").locks_outweigh(0)


def test_lock_running_ratio_is_checked():
    for bad in (-1.0, float("nan"), "2", True):
        with pytest.raises(ValueError, match="lock_running_ratio"):
            PolicyConfig(lock_running_ratio=bad)
    for bad in (1, "yes", None, True):
        with pytest.raises(ValueError, match="lock_running_host"):
            PolicyConfig(lock_running_host=bad)


def test_with_a_host_tier_the_ratio_acts_as_lock_running_host_says():
    # three locks of 100 tokens outweigh 2 x 149 running tokens; with a host tier a lock
    # that gives way is demoted and its turn pays a reload
    room = _policy("younger", lock_running_ratio=2.0, lock_running_host="room")
    assert room.locks_outweigh(149, host_free=100)   # the host could take any lock's
    assert not room.locks_outweigh(149, host_free=99)
    assert room.locks_outweigh(149, host_free=None)  # no host tier
    assert not room.locks_outweigh(150, host_free=10**9)  # the ratio itself still decides
    on = _policy("younger", lock_running_ratio=2.0, lock_running_host="on")
    assert on.locks_outweigh(149, host_free=0)
    off = _policy("younger", lock_running_ratio=2.0)  # the default: "off"
    assert not off.locks_outweigh(149, host_free=10**9)
    assert off.locks_outweigh(149, host_free=None)
