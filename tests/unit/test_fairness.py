"""Fair under sustained load: what the age cap bounds, across tiers and under pressure,
driven through the Controller and the overlay's hooks (fake cache, fake requests)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sglang_continuum.adapter import hooks
from sglang_continuum.adapter.controller import Controller
from sglang_continuum.adapter.settings import Settings
from sglang_continuum.core import ContinuumPolicy, PolicyConfig
from tests.unit.test_controller import Clock, FakeCache, req

CAP = 180.0  # a queue age cap (the default is 360 s)


def make(admission_gate="device-only", **config):
    clock = Clock()
    cfg = dict(per_program_max_fraction=0.5, queue_age_cap_s=CAP)
    cfg.update(config)
    settings = Settings(PolicyConfig(**cfg), admission_gate=admission_gate)
    ctl = Controller(FakeCache(), settings, capacity_tokens=1000, clock=clock)
    return ctl, clock


def finished_turn(ctl, r):
    ctl.on_queued(r, False)
    ctl.on_admitted(r)
    ctl.on_release(r, checkpointed=True)


def test_an_overdue_request_goes_before_a_younger_programs_turn_holding_a_lock():
    ctl, clock = make()
    plain = req("plain")  # waits from t=100
    ctl.on_queued(plain, False)
    clock.t += CAP + 10  # a program begins after it and locks its context
    finished_turn(ctl, req("a1", "agent", ttl="60s"))
    clock.t += 1
    nxt = req("a2", "agent")
    ctl.on_queued(nxt, False)
    queue = [nxt, plain]
    ctl.sort_waiting(queue)
    assert [r.rid for r in queue] == ["plain", "a2"]


@pytest.mark.parametrize("waited, first", [(CAP + 10, "g2"), (4 * CAP + 10, "n1")])
def test_a_new_programs_first_turn_waits_four_age_caps_behind_programs_under_way(
        waited, first):
    # A program's first turn (all of it to prefill) goes behind a continuation of a
    # program under way past the age cap, and is overdue only after four of them.
    ctl, clock = make()
    first_turn = req("n1", "new", n_in=900)
    ctl.on_queued(first_turn, False)
    clock.t += 1
    finished_turn(ctl, req("g1", "going"))  # a program that began after it
    cont = req("g2", "going", n_in=120)
    cont.num_matched_prefix_tokens = 110
    ctl.on_queued(cont, False)
    clock.t += waited - 1
    queue = [first_turn, cont]
    ctl.sort_waiting(queue)
    assert queue[0].rid == first


def test_a_request_within_the_age_cap_still_lets_a_locked_turn_go_first():
    ctl, clock = make()
    plain = req("plain")
    ctl.on_queued(plain, False)
    clock.t += 5
    finished_turn(ctl, req("a1", "agent", ttl="60s"))
    nxt = req("a2", "agent")
    ctl.on_queued(nxt, False)
    queue = [plain, nxt]
    ctl.sort_waiting(queue)
    assert [r.rid for r in queue] == ["a2", "plain"]


def test_a_parked_lock_lapses_one_age_cap_after_its_ttl():
    ctl, clock = make()
    finished_turn(ctl, req("a1", "agent", ttl="60s"))
    clock.t += 1
    ctl.on_queued(req("a2", "agent"), False)  # its next turn waits: the lock is parked
    clock.t += 60
    ctl.tick()
    assert ctl.cache.unlocked == []
    clock.t += CAP - 2  # still inside TTL + cap
    ctl.tick()
    assert ctl.cache.unlocked == []
    clock.t += 2
    ctl.tick()
    assert ctl.cache.unlocked == [("lock", "node-a1")]
    assert ctl.snapshot().locks_lapsed == 1


def _pressure_policy():
    return ContinuumPolicy(PolicyConfig(pressure_scope="younger", queue_age_cap_s=CAP,
                                        per_program_max_fraction=1.0,
                                        lock_budget_fraction=1.0), capacity_tokens=10_000)


def test_a_long_lived_program_id_gives_way_to_a_head_waiting_since_before_its_lock():
    pol = _pressure_policy()
    old, young = ("", "old"), ("", "young")
    pol.on_arrival(old, 0.0)  # one program id kept alive for hours
    pol.on_admitted(old, 0.0)
    pol.on_arrival(young, 5000.0)  # began long after it
    # the young program's head has waited since 9990; the old one locks at 10000
    pol.on_finish(old, 10_000.0, 100, "bash", False, ttl_hint_s=60.0)
    pol.set_lock(old, 10_000.0, 60.0, 100, "old-lock")
    got = pol.release_for_pressure(young, 9990.0, engine_idle=False)
    assert got is not None and got[1] == "old-lock"


def test_a_young_program_still_keeps_its_lock_from_an_old_programs_head():
    pol = _pressure_policy()
    old, young = ("", "old"), ("", "young")
    pol.on_arrival(old, 0.0)
    pol.on_arrival(young, 9990.0)
    pol.on_admitted(young, 9990.0)
    pol.on_finish(young, 10_000.0, 100, "bash", False, ttl_hint_s=60.0)
    pol.set_lock(young, 10_000.0, 60.0, 100, "young-lock")
    pol.on_finish(old, 10_000.0, 100, "bash", False, ttl_hint_s=60.0)
    pol.set_lock(old, 10_000.0, 60.0, 100, "old-lock")
    # old's head (arrived at 10001, ranks at 9821) takes young's lock, not the reverse
    assert pol.release_for_pressure(young, 10_001.0, engine_idle=False) is None
    assert pol.release_for_pressure(old, 10_001.0, engine_idle=False)[1] == "young-lock"


class Adder:
    """What around_add_one_req reads of SGLang's PrefillAdder."""

    def __init__(self, ctl, free):
        self.tree_cache = SimpleNamespace(continuum=ctl)
        self.can_run_list, self.running_batch = [], None
        self.free = free
        self.ctl = ctl

    @property
    def rem_total_tokens(self):  # free slots plus what released locks made evictable
        return self.free + sum(1000 for h in self.ctl.cache.unlocked)


def _admits_past(tokens):
    """PrefillAdder.add_one_req as the tests see it: the head goes in once the adder's
    remaining total exceeds `tokens`."""
    from sglang.srt.managers.schedule_policy import AddReqResult

    def original(self, r, *a, **k):
        if self.rem_total_tokens > tokens:
            self.can_run_list.append(r)
            return AddReqResult.CONTINUE
        return AddReqResult.NO_TOKEN
    return original


def _head(n_in, max_new=8):
    head = req("head", n_in=n_in)
    head.full_untruncated_fill_ids = head.origin_input_ids
    head.output_ids = []
    head.sampling_params.max_new_tokens = max_new
    return head


def _with_locks(n):
    ctl, clock = make(per_program_max_fraction=1.0, lock_budget_fraction=1.0)
    ctl.policy = ContinuumPolicy(ctl.settings.policy, capacity_tokens=100_000)
    for i in range(n):
        finished_turn(ctl, req(f"r{i}", f"p{i}", n_in=990, ttl="60s"))
    return ctl


def test_locks_do_not_give_way_when_all_of_them_could_not_fit_the_head():
    from sglang.srt.managers.schedule_policy import AddReqResult

    ctl = _with_locks(2)  # 2 locks of 1,000 tokens; the head lacks 2,500
    adder = Adder(ctl, free=500)
    head = _head(3000 - 8)
    ctl.on_queued(head, False)

    def original(self, r, *a, **k):
        return AddReqResult.CONTINUE if self.rem_total_tokens > 3000 else AddReqResult.NO_TOKEN

    assert hooks.around_add_one_req(original, adder, head, False, None) \
        is AddReqResult.NO_TOKEN
    assert ctl.cache.unlocked == [] and ctl.snapshot().active_locks == 2


def test_locks_give_way_one_at_a_time_when_they_can_fit_the_head():
    from sglang.srt.managers.schedule_policy import AddReqResult

    ctl = _with_locks(3)  # the head lacks 1,500: two of the three locks go
    adder = Adder(ctl, free=1500)
    head = _head(3000 - 8)
    ctl.on_queued(head, False)

    original = _admits_past(3000)

    assert hooks.around_add_one_req(original, adder, head, False, None) \
        is AddReqResult.CONTINUE
    assert len(ctl.cache.unlocked) == 2 and ctl.snapshot().active_locks == 1


@pytest.mark.parametrize("sign", [1, -1])
def test_priority_scheduling_orders_by_priority_then_program_order(sign):
    ctl, clock = make()
    finished_turn(ctl, req("a1", "agent", ttl="60s"))
    locked = req("a2", "agent")
    ctl.on_queued(locked, False)
    clock.t += 1
    urgent = req("urgent")
    ctl.on_queued(urgent, False)
    locked.priority, urgent.priority = 5 * sign, 1 * sign  # urgent first either way
    other = req("b1", "other")
    other.priority = 5 * sign
    ctl.on_queued(other, False)
    queue = [other, locked, urgent]
    policy = SimpleNamespace(tree_cache=SimpleNamespace(continuum=ctl),
                             enable_priority_scheduling=True, priority_sign=sign)
    hooks.after_calc_priority(None, policy, queue)
    assert [r.rid for r in queue] == ["urgent", "a2", "b1"]


def test_a_request_refused_at_the_queue_door_keeps_its_programs_lock():
    ctl, clock = make()
    finished_turn(ctl, req("a1", "agent", ttl="60s"))
    refused = req("a2", "agent")  # queue full: SGLang aborts it before queueing it
    ctl.on_aborted(refused)
    assert ctl.cache.unlocked == [] and ctl.snapshot().active_locks == 1
    queued = req("a3", "agent")  # a queued turn that is aborted drops it
    ctl.on_queued(queued, False)
    ctl.on_aborted(queued)
    assert ctl.cache.unlocked == [("lock", "node-a1")]


def test_a_retried_head_is_matched_again_after_each_lock_that_gives_way():
    """A lock that gives way may be demoted to host: the head's match, taken before,
    would name freed device slots, so it is matched again before each retry (as the
    scheduler matches every request before add_one_req)."""
    from sglang.srt.managers.schedule_policy import AddReqResult

    ctl = _with_locks(3)
    adder = Adder(ctl, free=1500)
    adder.tree_cache = SimpleNamespace(continuum=ctl, match_prefix=lambda *a, **k: None)
    head = _head(3000 - 8)
    matched = []
    head.init_next_round_input = lambda tree: matched.append(tree)
    ctl.on_queued(head, False)

    original = _admits_past(3000)

    assert hooks.around_add_one_req(original, adder, head, False, None) \
        is AddReqResult.CONTINUE
    assert matched == [adder.tree_cache] * 2  # two locks gave way, two retries


@pytest.mark.parametrize("ratio,host_free,gives_way", [
    (0.0, None, False), (1.0, None, True),
    # with a host tier, under lock_running_host "room" only while its free slots could
    # take a lock's context (the lock that gives way is demoted there)
    (1.0, 10**6, True), (1.0, 0, False)])
def test_locks_outweighing_the_running_batch_give_way_to_a_younger_program(ratio, host_free,
                                                                           gives_way):
    """lock_running_ratio: with a request running (500 tokens of context) the engine
    is busy, so under scope "younger" three older programs' locks (3,000 tokens) keep a
    younger program's turn waiting; with ratio 1 they outweigh the running context and
    give way as to an idle engine. (No admission gate: the default's, sized to this
    controller's 1,000-token pool, would hold the new program before its turn meets
    the locks.)"""
    from sglang.srt.managers.schedule_policy import AddReqResult

    ctl, clock = make(admission_gate="off", per_program_max_fraction=1.0,
                      lock_budget_fraction=1.0, lock_running_ratio=ratio,
                      lock_running_host="room")
    ctl.policy = ContinuumPolicy(ctl.settings.policy, capacity_tokens=100_000)
    if host_free is not None:
        ctl.cache.host_free_tokens = lambda: host_free
    for i in range(3):
        finished_turn(ctl, req(f"r{i}", f"p{i}", n_in=990, ttl="60s"))
    clock.t += 1.0
    adder = Adder(ctl, free=1500)
    running = req("run", "prun", n_in=490)
    adder.running_batch = SimpleNamespace(reqs=[running], is_empty=lambda: False)
    head = req("head", "pnew", n_in=3000 - 8)
    head.full_untruncated_fill_ids = head.origin_input_ids
    head.output_ids = []
    head.sampling_params.max_new_tokens = 8
    ctl.on_queued(head, False)

    got = hooks.around_add_one_req(_admits_past(3000), adder, head, False, None)
    assert (got is AddReqResult.CONTINUE) is gives_way
    assert len(ctl.cache.unlocked) == (2 if gives_way else 0)
