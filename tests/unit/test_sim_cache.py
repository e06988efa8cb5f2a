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


def test_ended_programs_go_first_on_the_device():
    """ProgramAge(by_age=False): an ended program's prefix is evicted before a live
    one's, though LRU would take the live one (used earlier); then LRU."""
    from sglang_continuum.sim.eviction import ProgramAge
    for order, first_out in ((None, 0), (ProgramAge(by_age=False), 1)):
        c = PrefixCache(100) if order is None else PrefixCache(100, order=order)
        fill(c, 0, 40, now=1.0)   # live, used first
        fill(c, 1, 40, now=2.0)   # used last, then its program ends
        c.close(1)
        assert c.make_room(50)
        assert c.cached(first_out) == 10 and c.cached(1 - first_out) == 40


def test_program_age_evicts_the_youngest_live_program_first():
    from sglang_continuum.sim.eviction import ProgramAge
    c = PrefixCache(100, order=ProgramAge())
    fill(c, 0, 30, now=3.0)   # oldest (first admitted), used last
    fill(c, 1, 30, now=1.0)
    fill(c, 2, 30, now=2.0)   # youngest
    assert c.make_room(40)
    assert (c.cached(0), c.cached(1), c.cached(2)) == (30, 30, 0)


def test_the_host_tier_evicts_ended_programs_copies_first():
    """With a host_key, host eviction follows it: the ended program's host-only copy
    goes though a live program's was used earlier (stock orders: LRU)."""
    from sglang_continuum.sim.eviction import ProgramAge
    for order, kept in ((None, 1), (ProgramAge(device=False, by_age=False), 0)):
        kw = {} if order is None else {"order": order}
        c = PrefixCache(40, host_tier=True, host_capacity=40, **kw)
        fill(c, 0, 20, now=1.0)   # live
        fill(c, 1, 20, now=2.0)   # its program ends
        c.close(1)
        fill(c, 2, 20, now=3.0)   # program 0's 20 tokens go to host
        fill(c, 3, 40, now=4.0)   # 1's and 2's go too: the host must drop 20
        assert c.host_len(kept) == 20 and c.host_len(1 - kept) == 0
        assert c.host_len(2) == 20


def test_drop_gives_up_an_ended_programs_kv_on_device_and_host():
    c = PrefixCache(40, host_tier=True, host_capacity=100)
    fill(c, 0, 20, now=1.0)
    fill(c, 1, 30, now=2.0)          # 10 of program 0 go to host (all 20 copied)
    assert c.host_len(0) == 20 and c.cached(0) == 10
    c.drop(0)
    assert c.cached(0) == 0 and c.host_len(0) == 0 and c.host_used == 0
    assert c.free == 10 and c.evictable == 30
    c.lock(1)
    c.drop(1)                        # a locked prefix stays
    assert c.cached(1) == 30
    c.unlock(1)
    c.hold_host(1)
    assert c.make_room(40) and c.host_len(1) == 30
    c.drop(1)                        # a held host copy stays
    assert c.host_len(1) == 30 and c.cached(1) == 0


def test_the_simulators_default_drops_ended_programs_as_the_server_does():
    from sglang_continuum.adapter.settings import Settings
    from sglang_continuum.sim.policies import SERVER_DROP_ENDED
    assert (SERVER_DROP_ENDED == "device") == Settings().drop_ended
