from sglang_continuum.core import ContinuumPolicy, PolicyConfig


def setup(program_fcfs=True, plain="fcfs", queue_order="fcfs"):
    p = ContinuumPolicy(PolicyConfig(mode="fixed", program_fcfs=program_fcfs,
                                     plain_requests=plain, queue_order=queue_order), 1000)
    # Q arrives first (t=1), P at t=5; P finishes a turn at 6 and holds a lock.
    for key, t in [(("", "Q"), 1.0), (("", "P"), 5.0), (("", "R"), 1.0)]:
        p.on_arrival(key, t)
        p.on_admitted(key, t)
    d = p.on_finish(("", "P"), 6.0, 10, "cd", False)
    p.set_lock(("", "P"), 6.0, d.ttl_s, 10, "h")
    p.on_finish(("", "Q"), 6.0, 10, "cd", False)
    p.on_finish(("", "R"), 6.0, 10, "cd", False)
    return p


def order(p, requests):
    keyed = [(p.queue_key(key, arrival, preempted), name)
             for name, key, arrival, preempted in requests]
    return [name for _, name in sorted(keyed)]


REQUESTS = [
    ("stock_late", None, 9.5, False),
    ("Q", ("", "Q"), 8.0, False),        # program first arrival 1
    ("R", ("", "R"), 7.0, False),        # same first arrival: request arrival decides
    ("P_in_ttl", ("", "P"), 9.0, False),
    ("stock_early", None, 2.0, False),
    ("preempted", None, 10.0, True),
    ("unknown", ("", "Z"), 3.0, False),  # unknown program: own arrival
]


def test_queue_order_preempted_then_ttl_then_program_fcfs_then_arrival():
    p = setup()
    assert order(p, REQUESTS) == [
        "preempted", "P_in_ttl", "R", "Q", "stock_early", "unknown", "stock_late"]


def test_queue_key_shapes():
    p = setup()
    assert p.queue_key(("", "P"), 9.0, False) == (1, 0, 5.0, 9.0)
    assert p.queue_key(("", "Q"), 8.0, True) == (0, 2, 1.0, 8.0)
    assert p.queue_key(None, 4.0, False) == (1, 2, 4.0, 4.0)


def test_lock_consumed_leaves_ttl_tier():
    p = setup()
    p.on_arrival(("", "P"), 9.0)
    assert p.queue_key(("", "P"), 9.0, False)[1] == 0
    p.on_admitted(("", "P"), 9.5)
    assert p.queue_key(("", "P"), 9.0, False)[1] == 2


def test_without_program_fcfs_requests_order_by_own_arrival():
    p = setup(program_fcfs=False)
    assert order(p, REQUESTS) == [
        "preempted", "P_in_ttl", "stock_early", "unknown", "R", "Q", "stock_late"]


def test_age_cap_bounds_how_far_an_old_program_overtakes():
    from sglang_continuum.core import ContinuumPolicy, PolicyConfig
    p = ContinuumPolicy(PolicyConfig(queue_order="fcfs",
                                     queue_age_cap_s=60.0, plain_requests="fcfs"), 1000)
    p.on_arrival(("", "old"), 0.0)          # program started at 0
    p.on_arrival(("", "young"), 100.0)      # started at 100
    # a turn of "old" arriving at 150 ranks at 150 - 60 = 90: still ahead of "young" (100)
    assert p.queue_key(("", "old"), 150.0, False)[2] == 90.0
    assert p.queue_key(("", "old"), 150.0, False) < p.queue_key(("", "young"), 100.0, False)
    # arriving at 170 (more than 60 s after "young"'s turn): behind it
    assert p.queue_key(("", "old"), 170.0, False) > p.queue_key(("", "young"), 100.0, False)
    # a request without a program arriving at 120: ahead of "old"'s turn of 181 only
    plain = p.queue_key(None, 120.0, False)
    assert p.queue_key(("", "old"), 179.0, False) < plain < p.queue_key(("", "old"), 181.0, False)
    inf = ContinuumPolicy(PolicyConfig(queue_order="fcfs", queue_age_cap_s=float("inf")), 1000)
    inf.on_arrival(("", "old"), 0.0)
    assert inf.queue_key(("", "old"), 1e6, False)[2] == 0.0   # pure program FCFS


def test_age_cap_must_be_seconds():
    import pytest
    from sglang_continuum.core import PolicyConfig
    with pytest.raises(ValueError, match="queue_age_cap_s"):
        PolicyConfig(queue_order="fcfs", queue_age_cap_s=-1.0)


def test_plain_ahead_serves_requests_without_program_before_unlocked_turns():
    base, p = setup(), setup(plain="ahead")
    # preempted, then in-TTL, then both plain requests (by arrival), then program FCFS;
    # an unknown program id is not a plain request
    assert order(p, REQUESTS) == [
        "preempted", "P_in_ttl", "stock_early", "stock_late", "R", "Q", "unknown"]
    assert order(base, REQUESTS)[2:4] == ["R", "Q"]     # fcfs: behind programs
    fn = p.queue_key_fn()
    assert [fn(k, a, pre) for _, k, a, pre in REQUESTS] == \
        [p.queue_key(k, a, pre) for _, k, a, pre in REQUESTS]


def test_plain_requests_must_be_a_known_rule():
    import pytest

    from sglang_continuum.core import PolicyConfig
    with pytest.raises(ValueError, match="plain_requests"):
        PolicyConfig(queue_order="fcfs", plain_requests="first")


def test_plain_aged_ranks_as_a_program_that_began_one_age_cap_earlier():
    from sglang_continuum.core import ContinuumPolicy, PolicyConfig
    p = ContinuumPolicy(PolicyConfig(queue_order="fcfs",
                                     plain_requests="aged", queue_age_cap_s=60.0), 1000)
    p.on_arrival(("", "old"), 0.0)       # began at 0
    p.on_arrival(("", "young"), 100.0)   # began at 100
    plain = p.queue_key(None, 130.0, False)
    assert plain[2] == 70.0
    # ahead of the younger program's turns, behind the older program's
    assert p.queue_key(("", "old"), 120.0, False) < plain < p.queue_key(("", "young"), 125.0, False)
    # fcfs puts the same request behind both
    f = ContinuumPolicy(PolicyConfig(queue_order="fcfs",
                                     queue_age_cap_s=60.0, plain_requests="fcfs"), 1000)
    f.on_arrival(("", "old"), 0.0)
    f.on_arrival(("", "young"), 100.0)
    assert f.queue_key(("", "young"), 125.0, False) < f.queue_key(None, 130.0, False)


def test_default_ranks_plain_requests_aged():
    from sglang_continuum.core import PolicyConfig
    assert PolicyConfig(queue_order="fcfs").plain_requests == "aged"


def test_without_program_fcfs_a_request_without_an_id_gets_no_aged_head_start():
    # Stock order (the simulator's stock policies): FCFS by arrival for every request.
    p = ContinuumPolicy(PolicyConfig(queue_order="fcfs",
                                     program_fcfs=False, plain_requests="aged"), 1000)
    p.on_arrival(("", "a"), 10.0)
    assert p.queue_key(("", "a"), 10.0, False) < p.queue_key(None, 20.0, False)
    assert p.queue_key(None, 20.0, False)[2] == 20.0


# queue_order "srpt": fewest uncached prefill tokens first, inside the lock tier and
# the rest; preempted and overdue requests keep their places.
def test_srpt_orders_by_uncached_tokens_within_each_tier():
    p = setup(queue_order="srpt")  # Q and R at t=1, P at t=5 holding a lock
    requests = [  # (name, key, arrival, preempted, uncached tokens)
        ("Q_long", ("", "Q"), 8.0, False, 900),     # oldest program, most to prefill
        ("R_short", ("", "R"), 7.0, False, 40),
        ("new_short", ("", "N"), 9.0, False, 40),   # same work as R: R's program is older
        ("P_locked_long", ("", "P"), 9.0, False, 500),
        ("plain_mid", None, 9.5, False, 100),
        ("preempted_long", None, 10.0, True, 5000),
    ]
    keyed = sorted((p.queue_key(k, a, pre, uncached=u), name)
                   for name, k, a, pre, u in requests)
    assert [name for _, name in keyed] == [
        "preempted_long", "P_locked_long", "R_short", "new_short", "plain_mid", "Q_long"]
    # the program order ignores the work: the oldest program first
    fcfs = setup(plain="fcfs")
    assert fcfs.queue_key(("", "Q"), 8.0, False, uncached=900) == \
        fcfs.queue_key(("", "Q"), 8.0, False)


def _finished_once(p, key, arrival: float) -> None:
    """`key` ran one turn (arriving at `arrival`) and sent its next."""
    p.on_arrival(key, arrival)
    p.on_admitted(key, arrival)
    p.on_finish(key, arrival + 1.0, 100, "t", False)
    p.on_arrival(key, arrival + 2.0)


def test_srpt_keeps_the_age_cap_guarantee():
    p = ContinuumPolicy(PolicyConfig(queue_order="srpt", queue_age_cap_s=60.0), 1000)
    _finished_once(p, ("", "long"), -2.0)   # its second turn queued at 0
    p.on_arrival(("", "short"), 50.0)
    fn = p.queue_key_fn(now=70.0)   # "long" waited 70 s > 60 s: overdue
    assert fn(("", "long"), 0.0, False, 100_000) < fn(("", "short"), 50.0, False, 10)
    fn = p.queue_key_fn(now=55.0)   # not yet overdue: the shorter prefill goes first
    assert fn(("", "short"), 50.0, False, 10) < fn(("", "long"), 0.0, False, 100_000)


def test_a_first_turn_is_overdue_only_after_the_first_turn_cap():
    # A program's first turn is its admission: continuations of programs under way go
    # first for 4 age caps (first_turn_age_cap_s null), then it is overdue.
    p = ContinuumPolicy(PolicyConfig(queue_order="srpt", queue_age_cap_s=60.0), 1000)
    p.on_arrival(("", "new"), 0.0)             # a first turn, all of it to prefill
    _finished_once(p, ("", "going"), 48.0)     # a continuation queued at 50
    for now in (70.0, 239.0):                   # past the age cap, within 4 of them
        fn = p.queue_key_fn(now=now)
        assert fn(("", "going"), 50.0, False, 10) < fn(("", "new"), 0.0, False, 100_000)
    fn = p.queue_key_fn(now=241.0)
    assert fn(("", "new"), 0.0, False, 100_000) < fn(("", "going"), 50.0, False, 10)
    # an explicit cap; a plain request keeps the age cap
    q = ContinuumPolicy(PolicyConfig(queue_order="srpt", queue_age_cap_s=60.0,
                                     first_turn_age_cap_s=90.0), 1000)
    q.on_arrival(("", "new"), 0.0)
    _finished_once(q, ("", "going"), 48.0)
    fn = q.queue_key_fn(now=89.0)
    assert fn(("", "going"), 50.0, False, 10) < fn(("", "new"), 0.0, False, 100_000)
    assert fn(None, 0.0, False, 100_000) < fn(("", "going"), 50.0, False, 10)
    fn = q.queue_key_fn(now=91.0)
    assert fn(("", "new"), 0.0, False, 100_000) < fn(("", "going"), 50.0, False, 10)


def test_the_first_turn_cap_is_checked():
    import pytest
    assert PolicyConfig().first_turn_cap_s == 4 * PolicyConfig().queue_age_cap_s
    assert PolicyConfig(queue_age_cap_s=5.0).first_turn_cap_s == 20.0
    assert PolicyConfig(first_turn_age_cap_s=float("inf")).first_turn_cap_s == float("inf")
    for bad in (-1.0, float("nan"), "10", True):
        with pytest.raises(ValueError, match="first_turn_age_cap_s"):
            PolicyConfig(first_turn_age_cap_s=bad)


def test_queue_order_must_be_a_known_rule():
    import pytest
    with pytest.raises(ValueError, match="queue_order"):
        PolicyConfig(queue_order="spf")


def test_the_srpt_key_written_out_is_srpt_key_of_the_program_key():
    # key_fn writes srpt_key(key(...)) out for speed: it must give the same tuples
    from sglang_continuum.core.queue_order import srpt_key

    def policy(order):
        p = ContinuumPolicy(PolicyConfig(queue_order=order, queue_age_cap_s=60.0), 1000)
        _finished_once(p, ("", "going"), 48.0)           # a continuation queued at 50
        p.on_arrival(("", "new"), 0.0)                    # a first turn
        d = p.on_finish(("", "going"), 51.0, 10, "t", False)
        p.set_lock(("", "going"), 51.0, d.ttl_s, 10, "h")  # holding a lock
        return p

    srpt, fcfs = policy("srpt"), policy("fcfs")
    checked = 0
    for now in (None, 55.0, 70.0, 241.0):
        fused, plain = srpt.queue_key_fn(now), fcfs.queue_key_fn(now)
        for key in (None, ("", "going"), ("", "new"), ("", "unknown")):
            for arrival in (0.0, 50.0):
                for preempted in (False, True):
                    for uncached in (None, 0, 1, 500):
                        assert fused(key, arrival, preempted, uncached) == srpt_key(
                            plain(key, arrival, preempted), uncached)
                        checked += 1
    assert checked == 4 * 4 * 2 * 2 * 4


def test_the_key_written_out_is_queue_key_of_the_program():
    # key_fn writes queue_key(lookup(key), ...) out for a known program: the same
    # tuples as the reference functions, in both orders, with and without program FCFS,
    # for a locked continuation, an unlocked one, a first turn and an unknown program,
    # before and after the age caps.
    from sglang_continuum.core.queue_order import queue_key, srpt_key

    checked = 0
    for order_name in ("srpt", "fcfs"):
        for fcfs in (True, False):
            config = PolicyConfig(queue_order=order_name, program_fcfs=fcfs,
                                  queue_age_cap_s=60.0, first_turn_age_cap_s=90.0)
            p = ContinuumPolicy(config, 1000)
            _finished_once(p, ("", "going"), 48.0)
            _finished_once(p, ("", "idle"), 20.0)
            p.on_arrival(("", "new"), 0.0)
            d = p.on_finish(("", "going"), 51.0, 10, "t", False)
            p.set_lock(("", "going"), 51.0, d.ttl_s, 10, "h")
            lookup = p._programs.lookup
            for now in (55.0, 70.0, 100.0, 241.0):
                fused = p.queue_key_fn(now)
                for key in (("", "going"), ("", "idle"), ("", "new"), ("", "unknown")):
                    program = lookup(key)
                    for arrival in (0.0, 30.0, 50.0):
                        for preempted in (False, True):
                            ref = queue_key(program, arrival, preempted, fcfs, 60.0, "fcfs",
                                            now - 60.0, now - 90.0)
                            for uncached in (None, 0, 1, 500):
                                want = srpt_key(ref, uncached) if order_name == "srpt" \
                                    else ref
                                assert fused(key, arrival, preempted, uncached) == want, \
                                    (order_name, fcfs, now, key, arrival, preempted)
                                checked += 1
    assert checked == 2 * 2 * 4 * 4 * 3 * 2 * 4
