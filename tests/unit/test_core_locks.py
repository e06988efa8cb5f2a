from sglang_continuum.core.lock_table import LockTable

A, B, C = ("t", "a"), ("t", "b"), ("u", "c")


def add(table, key, expires_at, tokens=10, first_arrival=0.0, waiting=False):
    return table.add(key, expires_at, tokens, f"h-{key[1]}", 0.0, first_arrival, waiting)


def keys(locks):
    return [lock.key for lock in locks]


def test_expiry_order_and_strict_deadline():
    table = LockTable()
    add(table, A, 3.0)
    add(table, B, 1.0)
    add(table, C, 2.0)
    assert table.pop_expired(1.0) == []  # alive through its deadline
    assert keys(table.pop_expired(2.5)) == [B, C]
    assert keys(table.pop_expired(10.0)) == [A]
    assert len(table) == 0 and table.tokens == 0


def test_replacing_a_lock_invalidates_its_old_expiry():
    table = LockTable()
    assert add(table, A, 1.0, tokens=5) is None
    previous = add(table, A, 5.0, tokens=7)
    assert previous.handle == "h-a" and previous.tokens == 5
    assert table.tokens == 7
    assert table.pop_expired(2.0) == []
    assert keys(table.pop_expired(6.0)) == [A]


def test_waiting_lock_is_parked_until_its_program_stops_waiting():
    table = LockTable()
    add(table, A, 1.0, waiting=True)
    assert table.pop_expired(5.0) == []
    assert table.pop_expired(9.0) == []  # parked: not rescanned
    table.set_waiting(A, False)
    assert keys(table.pop_expired(9.0)) == [A]


def test_youngest_first_non_waiting_before_waiting():
    table = LockTable()
    add(table, A, 9.0, first_arrival=0.0)
    add(table, B, 9.0, first_arrival=2.0, waiting=True)
    add(table, C, 9.0, first_arrival=1.0)
    assert table.pop_youngest().key == C
    assert table.pop_youngest().key == A
    assert table.pop_youngest().key == B
    assert table.pop_youngest() is None


def test_waiting_toggles_move_a_lock_between_pressure_classes():
    table = LockTable()
    add(table, A, 9.0, first_arrival=0.0)
    add(table, B, 9.0, first_arrival=1.0)
    table.set_waiting(B, True)
    table.set_waiting(B, False)
    table.set_waiting(A, True)
    assert keys([table.pop_youngest(), table.pop_youngest()]) == [B, A]
    assert table.pop_youngest() is None


def test_token_accounting_per_tenant():
    table = LockTable()
    add(table, A, 9.0, tokens=10)
    add(table, B, 9.0, tokens=20)
    add(table, C, 9.0, tokens=5)
    assert table.tokens == 35
    assert table.tenant_tokens("t") == 30 and table.tenant_tokens("u") == 5
    table.pop(B)
    assert table.tenant_tokens("t") == 10
    table.pop(C)
    assert table.tenant_tokens("u") == 0 and "u" not in table._tenant_tokens


def test_heaps_stay_bounded_under_churn():
    table = LockTable()
    for i in range(10_000):
        add(table, A, float(i))
        table.set_waiting(A, i % 2 == 0)
    assert len(table) == 1
    assert len(table._expiry) <= 2 * len(table) + 65
    assert all(len(h) <= 2 * len(table) + 65 for h in table._young)


def test_oldest_is_the_lock_held_longest_not_waiting_first():
    table = LockTable()
    assert table.oldest() is None
    table.add(A, 9.0, 10, "a1", 1.0, 0.0, True)
    table.add(B, 9.0, 10, "b1", 2.0, 0.0, False)
    table.add(C, 9.0, 10, "c1", 3.0, 5.0, False)
    table.add(B, 9.0, 10, "b2", 4.0, 0.0, False)  # replaces b1: held since 2.0
    assert table.oldest().key == B  # A is held longer, but its next turn waits
    table.set_waiting(A, False)
    assert table.oldest().key == A
    table.pop(A)
    table.add(A, 9.0, 10, "a2", 6.0, 0.0, False)  # after a gap: held since 6.0
    assert table.oldest().key == B


def test_clear_empties_every_index():
    table = LockTable()
    add(table, A, 1.0)
    add(table, C, 2.0, waiting=True)
    assert keys(table.clear()) == [A, C]
    assert (len(table), table.tokens, table.tenant_tokens("t")) == (0, 0, 0)
    assert table.pop_expired(10.0) == [] and table.pop_youngest() is None


class _SharedPrefixCache:
    """KvLocks over a tree where every program's context is a shared system prompt
    (one node) and a node of its own."""

    def __init__(self, shared: int, own: int):
        self.shared, self.own = shared, own
        self.held = set()

    def lock(self, target):
        self.held.add(target)
        return target

    def unlock(self, handle):
        self.held.discard(handle)

    def path(self, target):
        return [("system", self.shared), (target, self.own)]


def _budget_policy(cap):
    from sglang_continuum.core import ContinuumPolicy, PolicyConfig

    return ContinuumPolicy(PolicyConfig(mode="fixed", fixed_ttl_s=30.0,
                                        per_program_max_fraction=1.0), cap)


def test_lock_budget_counts_a_shared_prefix_once():
    """40 programs, a 4k-token shared system prompt and 1k of their own each, a 100k
    budget: the locks pin 4k + 40 x 1k = 44k tokens, so every lock fits."""
    from sglang_continuum.core import turns

    shared, own, programs, cap = 4000, 1000, 40, 100_000
    p, cache = _budget_policy(cap), _SharedPrefixCache(shared, own)
    reasons = []
    for i in range(programs):
        key = ("", f"prog{i}")
        turns.arrive(p, key, float(i))
        turns.admit(p, cache, key, float(i), waited_s=0.0, cached_tokens=0,
                    input_tokens=shared + own)
        d = turns.finish(p, cache, key, i + 0.5, context_tokens=shared + own, tool="bash",
                         last_turn=False, ttl_hint_s=None, target=f"node{i}")
        reasons.append(d.reason)
    assert reasons == ["fixed"] * programs
    assert p._locks.pinned == shared + own * programs
    # Releasing locks gives back only what no other lock pins.
    turns.drop(p, cache, ("", "prog0"))
    assert p._locks.pinned == shared + own * (programs - 1)
    for i in range(1, programs):
        turns.drop(p, cache, ("", f"prog{i}"))
    assert p._locks.pinned == p.snapshot().locked_tokens == 0 and not cache.held


def test_a_full_budget_refuses_as_lock_budget_and_a_replaced_lock_is_freed():
    from sglang_continuum.core import turns

    p, cache = _budget_policy(10_000), _SharedPrefixCache(4000, 2000)
    for i in range(3):  # 4000 + 3 x 2000 = 10,000 pinned: full
        key = ("", f"p{i}")
        turns.arrive(p, key, 0.0)
        assert turns.finish(p, cache, key, 1.0, context_tokens=6000, tool=None,
                            last_turn=False, ttl_hint_s=None,
                            target=f"n{i}").reason == "fixed"
    key = ("", "p3")
    turns.arrive(p, key, 0.0)
    # The default tenant share equals the budget: the refusal names the budget.
    assert turns.finish(p, cache, key, 1.0, context_tokens=6000, tool=None,
                        last_turn=False, ttl_hint_s=None,
                        target="n3").reason == "lock_budget"
    # p0's next turn replaces its own lock: its old node is freed, the new one fits.
    turns.arrive(p, ("", "p0"), 2.0)
    turns.admit(p, cache, ("", "p0"), 2.0, waited_s=0.0, cached_tokens=6000,
                input_tokens=6000)
    assert turns.finish(p, cache, ("", "p0"), 3.0, context_tokens=6000, tool=None,
                        last_turn=False, ttl_hint_s=None, target="n0b").reason == "fixed"
    assert p._locks.pinned == 10_000


def test_pressure_counts_a_shared_prefix_once():
    """Ten locks sharing a 4k-token system prompt, 100 tokens of their own each: all of
    them together unpin 4k + 10 x 100 tokens, not 10 x 4.1k. A head short of more than
    that is not let in by releasing them, so none is released for it."""
    from sglang_continuum.core import turns

    shared, own, programs = 4000, 100, 10
    p, cache = _budget_policy(1_000_000), _SharedPrefixCache(shared, own)
    for i in range(programs):
        key = ("", f"prog{i}")
        turns.arrive(p, key, float(i))
        assert turns.finish(p, cache, key, i + 0.5, context_tokens=shared + own, tool=None,
                            last_turn=False, ttl_hint_s=None,
                            target=f"node{i}").reason == "fixed"
    unique = shared + own * programs
    assert p.pressure_could_fit(unique)
    assert not p.pressure_could_fit(unique + 1)
    # With an older lock staying behind, its prefix frees nothing: only the others' own.
    head = ("", "prog0")
    turns.arrive(p, head, 20.0)
    younger = own * (programs - 1)
    assert p.pressure_could_fit(younger, head, 20.0, engine_idle=False)
    assert not p.pressure_could_fit(younger + 1, head, 20.0, engine_idle=False)


def test_pressure_frees_nothing_of_the_heads_own_prefix():
    """The example of the review: ten locks sharing a 4k-token system prompt with 100
    tokens of their own each, and a head 2,000 tokens short that shares the prompt
    (SGLang pins the head's matched prefix while it checks the fit): releasing all ten
    unpins 1,000 tokens, so none goes. Counted per lock's whole context it was 41,000."""
    from sglang_continuum.core import turns

    shared, own, programs = 4000, 100, 10
    p, cache = _budget_policy(1_000_000), _SharedPrefixCache(shared, own)
    for i in range(programs):
        key = ("", f"prog{i}")
        turns.arrive(p, key, float(i))
        turns.finish(p, cache, key, i + 0.5, context_tokens=shared + own, tool=None,
                     last_turn=False, ttl_hint_s=None, target=f"node{i}")
    head_path = [("system", shared)]
    assert not p.pressure_could_fit(2000, head_path=head_path)
    assert p.pressure_could_fit(own * programs, head_path=head_path)
    assert not p.pressure_could_fit(own * programs + 1, head_path=head_path)
