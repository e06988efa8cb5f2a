"""host_locks "learned": a finished turn goes unlocked where the host tier keeps
contexts anyway (turns that came back without a lock found their context), and locks
where it does not; it starts locking and probes to learn."""

from __future__ import annotations

import pytest

from sglang_continuum.core import ContinuumPolicy, PolicyConfig, turns
from sglang_continuum.core.host_rule import HostLockRule

WINDOW, PROBE = 8, 4


class Cache:
    """KvLocks that records what it is asked to lock (a host tier with no free room:
    the learned rule must not need it)."""

    def __init__(self):
        self.locked = 0

    def lock(self, target):
        self.locked += 1
        return object()

    def unlock(self, handle):
        pass

    def host_free_tokens(self):
        return 0


def _run(found_share_of: callable, turns_n: int = 80, host_tier: bool = True):
    """One program's turns; the context of a turn that went unlocked is found on its
    next turn when `found_share_of(i)` says so (a locked turn's always is). Returns the
    decisions' reasons."""
    pol = ContinuumPolicy(PolicyConfig(host_locks="learned", host_tier=host_tier,
                                       host_hit_window=WINDOW, host_probe_every=PROBE,
                                       mode="fixed", fixed_ttl_s=5.0, cold_start_samples=0),
                          capacity_tokens=100_000)
    cache, key, reasons, locked = Cache(), ("", "p"), [], False
    for i in range(turns_n):
        now = float(i)
        turns.arrive(pol, key, now)
        found = locked or found_share_of(i)
        turns.admit(pol, cache, key, now, waited_s=0.0,
                    cached_tokens=1000 if found or i == 0 else 0, input_tokens=1010)
        d = turns.finish(pol, cache, key, now + 0.5, context_tokens=1010, tool="bash",
                         last_turn=False, ttl_hint_s=None, target="node")
        reasons.append(d.reason)
        locked = d.ttl_s > 0
    return reasons, pol


def test_where_unlocked_contexts_are_found_turns_stay_unlocked():
    reasons, _ = _run(lambda i: True)
    # it starts locking (but for the probes), and stops once half a window is learned
    assert reasons[:PROBE - 1] == ["fixed"] * (PROBE - 1)
    assert reasons[PROBE - 1] == "host_tier"
    assert set(reasons[WINDOW // 2 * PROBE:]) == {"host_tier"}


def test_where_they_are_lost_turns_lock_but_for_the_probes():
    reasons, _ = _run(lambda i: False)
    assert reasons.count("host_tier") == len(reasons) // PROBE
    assert all(r == "fixed" for i, r in enumerate(reasons) if (i + 1) % PROBE)


def test_it_follows_a_host_tier_that_fills_up_and_empties_again():
    # found for turns 0-29, lost for 30-59, found again after
    reasons, _ = _run(lambda i: i < 30 or i >= 60, turns_n=120)
    assert reasons[20:30].count("host_tier") == 10
    assert reasons[45:60].count("fixed") >= 10
    assert reasons[100:].count("host_tier") == 20


def test_no_host_tier_no_rule():
    reasons, _ = _run(lambda i: True, host_tier=False)
    assert "host_tier" not in reasons


def test_it_learns_first_and_bad_values_are_refused():
    rule = HostLockRule("learned", 0.9, 4, 2)
    assert [rule.skips_lock(10, None) for _ in range(4)] == [False, True] * 2  # probes
    rule.record(True)
    rule.record(True)
    assert [rule.skips_lock(10, None) for _ in range(2)] == [True, True]
    for bad in (dict(host_hit_share=1.5), dict(host_hit_window=0),
                dict(host_probe_every=True), dict(host_locks="sometimes")):
        with pytest.raises(ValueError, match=next(iter(bad))):
            PolicyConfig(**bad)
