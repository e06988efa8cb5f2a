"""The per-program prefix cache: LRU of unlocked prefixes, locks and pins protect."""

from sglang_continuum.sim.cache import PrefixCache


def fill(cache, p, n, now):
    cache.pin(p)
    cache.make_room(n)
    cache.grow(p, n)
    cache.unpin(p, now)


def test_lru_evicts_the_least_recently_used_tail_first():
    c = PrefixCache(100)
    fill(c, 0, 40, now=1.0)
    fill(c, 1, 40, now=2.0)
    assert c.free == 20 and c.evictable == 80
    assert c.make_room(50)
    assert (c.cached(0), c.cached(1)) == (10, 40)
    assert c.make_room(70)
    assert (c.cached(0), c.cached(1)) == (0, 30)
    assert c.evicted_tokens == 50


def test_locked_and_pinned_prefixes_are_not_evicted():
    c = PrefixCache(100)
    fill(c, 0, 40, now=1.0)
    fill(c, 1, 40, now=2.0)
    c.lock(0)
    assert c.evictable_except(2) == 40
    assert not c.make_room(61)  # 20 free + 40 evictable
    assert c.make_room(60) and c.cached(0) == 40 and c.cached(1) == 0
    c.pin(1)
    c.unlock(0)
    assert c.evictable == 40 and c.evictable_except(0) == 0


def test_host_tier_remembers_evicted_prefix():
    c = PrefixCache(50, host_tier=True)
    fill(c, 0, 40, now=1.0)
    fill(c, 1, 30, now=2.0)  # evicts 20 of program 0
    assert c.cached(0) == 20 and c.host_len(0) == 40
