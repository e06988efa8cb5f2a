"""Host tier: a lock that lapses or gives way demotes its KV through the adapter; one
that gave way inside its TTL is held on host until that TTL ends, the next turn is
admitted, or the program ends. Driven through core.turns with a recording KvLocks, as
the controller and the simulator's bridge drive it."""

from __future__ import annotations

from sglang_continuum.core import ContinuumPolicy, PolicyConfig, PrefillModel, turns

A, B = ("t", "a"), ("t", "b")


class Recorder:
    """HostTier over nothing: records each call; demote() fails when told to."""

    def __init__(self, demotable=True):
        self.calls: list[tuple[str, object]] = []
        self.demotable = demotable
        self._n = 0

    def lock(self, target):
        self._n += 1
        return f"{target}#{self._n}"

    def unlock(self, handle):
        self.calls.append(("unlock", handle))

    def demote(self, handle):
        self.calls.append(("demote", handle))
        return f"host:{handle}" if self.demotable else None

    def unhold(self, host_handle):
        self.calls.append(("unhold", host_handle))


def _locked(host_tier=True, demotable=True):
    p = ContinuumPolicy(PolicyConfig(mode="fixed", fixed_ttl_s=10.0, host_tier=host_tier,
                                     prefill_profile=PrefillModel(0.0, 0.0, 0.0)), 1000)
    kv = Recorder(demotable)
    for key, t in ((A, 0.0), (B, 1.0)):
        p.on_arrival(key, t)
        turns.admit(p, kv, key, t, waited_s=0.0, cached_tokens=0, input_tokens=50)
        turns.finish(p, kv, key, t, context_tokens=100, tool="ls", last_turn=False,
                     ttl_hint_s=None, target=key[1])
    return p, kv


def test_without_a_host_tier_locks_are_only_unlocked():
    p, kv = _locked(host_tier=False)
    assert p.host_holds is None
    turns.relieve(p, kv)
    turns.expire(p, kv, 20.0)
    assert kv.calls == [("unlock", "b#2"), ("unlock", "a#1")]


def test_a_lapsed_lock_demotes_and_is_not_held():
    p, kv = _locked()
    assert turns.expire(p, kv, 10.5) == 1  # A's lock (set at 0, TTL 10)
    assert kv.calls == [("demote", "a#1"), ("unhold", "host:a#1")]
    snap = p.snapshot()
    assert (snap.locks_lapsed, snap.locks_demoted, snap.host_holds) == (1, 1, 0)


def test_a_lock_that_gives_way_is_held_on_host_until_its_ttl_ends():
    p, kv = _locked()
    assert turns.relieve(p, kv)  # the youngest program, B (TTL until 11)
    assert kv.calls == [("demote", "b#2")]
    snap = p.snapshot()
    assert (snap.locks_demoted, snap.host_holds, snap.host_held_tokens) == (1, 1, 100)
    turns.expire(p, kv, 10.5)  # A lapses; B's hold still inside its TTL
    assert kv.calls[-2:] == [("demote", "a#1"), ("unhold", "host:a#1")]
    turns.expire(p, kv, 11.5)
    assert kv.calls[-1] == ("unhold", "host:b#2")
    assert p.snapshot().host_holds == 0


def test_the_next_turn_or_the_end_releases_the_hold():
    p, kv = _locked()
    turns.relieve(p, kv)  # B held on host
    turns.relieve(p, kv)  # then A
    p.on_arrival(B, 5.0)
    turns.admit(p, kv, B, 5.0, waited_s=0.0, cached_tokens=100, input_tokens=120)
    assert kv.calls[-1] == ("unhold", "host:b#2")
    turns.drop(p, kv, A)
    assert kv.calls[-1] == ("unhold", "host:a#1")
    assert p.snapshot().host_holds == 0 and p.snapshot().host_held_tokens == 0


def test_kv_that_could_not_be_demoted_is_neither_held_nor_counted():
    p, kv = _locked(demotable=False)
    turns.relieve(p, kv)
    turns.expire(p, kv, 30.0)
    assert [c[0] for c in kv.calls] == ["demote", "demote"]
    snap = p.snapshot()
    assert (snap.locks_demoted, snap.host_holds) == (0, 0)


def test_the_simulator_demotes_as_the_server_does():
    from sglang_continuum.sim.bridge import ProgramLocks
    from sglang_continuum.sim.cache import PrefixCache

    class Run:
        index = 0

    cache = PrefixCache(1000, host_tier=True)
    cache.pin(0)
    cache.grow(0, 300)
    cache.unpin(0, 1.0)
    kv = ProgramLocks(cache)
    first, second = kv.lock(Run), kv.lock(Run)
    assert kv.demote(first) is None  # another handle still holds the prefix
    assert cache.cached(0) == 300
    assert kv.demote(second) is not None
    assert (cache.cached(0), cache.host_len(0), cache.free) == (0, 300, 1000)


def _ttl(**cfg):
    p = ContinuumPolicy(PolicyConfig(mode="paper", **cfg), 100_000)
    return p.on_finish(A, 0.0, 20_000, "ls", False).ttl_s


def test_the_cost_model_prices_a_lapse_as_a_reload_with_a_host_tier():
    slow_prefill = PrefillModel(0.0, 1e-3, 0.0)  # 20 s to recompute 20k tokens
    fast_reload = PrefillModel(0.0, 1e-4, 0.0)   # 2 s to reload them
    prefill_ttl = _ttl(prefill_profile=slow_prefill)
    reload_ttl = _ttl(prefill_profile=slow_prefill, host_tier=True,
                      host_reload_profile=fast_reload)
    assert 0 < reload_ttl < prefill_ttl  # a cheaper rebuild is worth a shorter wait
    # A reload profile means nothing without a host tier; a host tier without one
    # falls back to the prefill.
    assert _ttl(prefill_profile=slow_prefill, host_reload_profile=fast_reload) == prefill_ttl
    assert _ttl(prefill_profile=slow_prefill, host_tier=True) == prefill_ttl


def test_settings_read_the_reload_profile_from_the_profile_file(tmp_path):
    import argparse
    import json

    from sglang_continuum.adapter.settings import Settings
    from sglang_continuum.server.flags import add_cli_args, settings_from_args

    f = tmp_path / "profile.json"
    f.write_text(json.dumps({"a": 0.0, "b": 1e-4, "c": 0.0, "source": "test",
                             "host_reload": {"a": 0.0, "b": 2e-6, "c": 0.0, "samples": []}}))
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"prefill_profile": "profile.json"}))
    ap = argparse.ArgumentParser()
    add_cli_args(ap)
    settings = settings_from_args(ap.parse_args(["--continuum-config", str(cfg)]))
    assert settings.policy.prefill_profile == PrefillModel(0.0, 1e-4, 0.0)
    assert settings.policy.host_reload_profile == PrefillModel(0.0, 2e-6, 0.0)
    assert Settings.from_mapping(json.loads(settings.to_json())) == settings


def test_a_parked_lock_that_gives_way_is_held_as_long_as_it_was_parked():
    """A lock whose TTL passed while its program's turn waits is parked for one age cap
    more; if it then gives way, its host hold takes the same bound, not the TTL that
    has already passed (found by the radix invariants: a hold outlived its TTL)."""
    p, kv = _locked()
    cap = p.config.queue_age_cap_s
    turns.arrive(p, B, 5.0)  # B's next turn waits; its lock (set at 1, TTL 10) parks
    assert turns.expire(p, kv, 12.0) == 1  # A's lapses; B's stays parked
    kv.calls.clear()
    assert turns.relieve(p, kv)  # B's parked lock gives way: demoted, held
    assert kv.calls == [("demote", "b#2")]
    turns.expire(p, kv, 13.0)
    assert kv.calls == [("demote", "b#2")]  # still held past its TTL (11)
    turns.expire(p, kv, 11.0 + cap + 1.0)
    assert kv.calls[-1] == ("unhold", "host:b#2")
