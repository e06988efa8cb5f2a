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
