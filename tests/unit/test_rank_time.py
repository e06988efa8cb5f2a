"""Every TP/PP rank decides the same: two ranks' controllers whose clocks disagree,
driven through one scheduler step sequence by the overlay's own hooks (the entry rank
polls its timeouts and broadcasts the step's inputs; every rank dispatches them, ticks,
sorts its queue and admits), lock, lapse, give way and order their queue identically.

The ranks' processes do not run in lockstep: each reads its clock at a slightly
different moment of the same step, and by a varying amount (scheduling, a collective
that one rank waits on longer). Here rank 1 reads its clock a little late in some steps.

Each rank is built as the server's cache factory builds it (shared time)."""

from __future__ import annotations

from types import SimpleNamespace

from sglang_continuum.adapter import hooks
from sglang_continuum.adapter.controller import Controller
from sglang_continuum.adapter.step_time import StepTime, split
from sglang_continuum.adapter.settings import Settings
from sglang_continuum.core import PolicyConfig
from tests.unit.test_controller import Clock, FakeCache, req


class Rank:
    """One scheduler process: its own clock, controller and waiting queue."""

    def __init__(self):
        self.clock = Clock()
        settings = Settings(PolicyConfig(per_program_max_fraction=0.5))
        self.ctl = Controller(FakeCache(), settings, capacity_tokens=1000,
                              clock=self.clock, shared_time=True)
        self.sched = SimpleNamespace(tree_cache=SimpleNamespace(continuum=self.ctl),
                                     waiting_queue=[])
        self.order: list[list[str]] = []

    def dispatch(self, sched, recv_reqs):
        for r in recv_reqs:
            assert not isinstance(r, StepTime), "a marker reached SGLang's dispatcher"
            sched.waiting_queue.append(r)
            self.ctl.on_queued(r, False)


def step(ranks, new_reqs, finish=(), pressure=False, late=(0.0, 0.0)):
    """One scheduler iteration on every rank, as SGLang runs it: the entry rank polls
    (its local aborts ride the broadcast), every rank dispatches the same inputs, ticks,
    sorts and admits the head; `finish` names requests whose turn ends this step.
    `late`: how much later than the entry rank's poll each rank reads its clock."""
    base = ranks[0].clock.t
    for rank, lag in zip(ranks, late):
        rank.clock.t = base + lag
    entry = ranks[0]
    local = hooks.around_poll_timeout_aborts(lambda s: [], entry.sched)
    broadcast = [*new_reqs, *local]
    for rank in ranks:
        inputs = [_copy(r) for r in broadcast]  # each rank unpickles its own objects
        hooks.around_process_input_requests(rank.dispatch, rank.sched, inputs)
        hooks.before_get_next_batch_to_run(rank.sched)
        rank.ctl.sort_waiting(rank.sched.waiting_queue)
        rank.order.append([r.rid for r in rank.sched.waiting_queue])
        if pressure:
            rank.ctl.relieve_pressure()
        for rid in finish:
            r = next(q for q in rank.sched.waiting_queue if q.rid == rid)
            rank.sched.waiting_queue.remove(r)
            rank.ctl.on_admitted(r)
            rank.ctl.on_release(r, checkpointed=True)
    for rank in ranks:
        rank.clock.t = base


def _copy(r):
    if isinstance(r, StepTime):
        return r
    return req(r.rid, r.program, n_in=r.n_in, ttl=r.ttl, last=r.last)


def spec(rid, program=None, ttl=None, n_in=100, last=False):
    return SimpleNamespace(rid=rid, program=program, ttl=ttl, n_in=n_in, last=last)


def advance(ranks, seconds):
    for rank in ranks:
        rank.clock.t += seconds


def decisions(rank):
    snap = rank.ctl.snapshot()
    return (rank.ctl.cache.locked, rank.ctl.cache.unlocked, rank.order,
            snap.locks_lapsed, snap.locks_released_pressure, snap.locks_consumed,
            snap.first_turn_share)


def test_ranks_with_skewed_clocks_decide_the_same():
    # Read per rank, the 5 s lock set at 100 lapses at step 105 on rank 1 (which reads
    # its clock 0.4 s late there) and a step later on rank 0; the 8 s lock likewise.
    ranks = [Rank(), Rank()]
    step(ranks, [spec("a1", "a", "5s"), spec("b1", "b", "30s"), spec("c1", "c", "8s")],
         finish=["a1", "b1", "c1"])
    for i in range(8):  # steps 1 s apart; locks come due between two of them
        advance(ranks, 1.0)
        step(ranks, [], late=(0.0, 0.4 if i in (4, 7) else 0.0))
    # Turns arrive while locks lapse: a plain request and program turns.
    step(ranks, [spec("p1"), spec("c2", "c"), spec("b2", "b")], late=(0.0, 0.3))
    advance(ranks, 1.0)
    step(ranks, [spec("a2", "a")], pressure=True, late=(0.0, 0.2))
    advance(ranks, 1.0)
    step(ranks, [], finish=["c2", "b2"], pressure=True)
    assert decisions(ranks[0]) == decisions(ranks[1])
    assert ranks[0].ctl.snapshot().locks_lapsed >= 1  # the scenario did lapse a lock


def test_a_step_without_a_marker_keeps_the_last_shared_time():
    # Input deferred during a pause: SGLang does not poll, so no marker arrives.
    rank = Rank()
    step([rank], [spec("a1", "a", "5s")], finish=["a1"])
    advance([rank], 10.0)
    hooks.around_process_input_requests(rank.dispatch, rank.sched, [])
    hooks.before_get_next_batch_to_run(rank.sched)
    assert rank.ctl.snapshot().locks_lapsed == 0  # its own clock was not read
    step([rank], [])
    assert rank.ctl.snapshot().locks_lapsed == 1


def test_markers_leave_the_relayed_list_whole_and_never_move_time_back():
    inputs = ["r1", StepTime(5.0), "r2", StepTime(7.0)]
    now, rest = split(inputs)
    assert now == 7.0 and rest == ["r1", "r2"]
    assert len(inputs) == 4  # pipeline stages relay the list as received
    assert split(["r1"]) == (None, ["r1"])
    rank = Rank()
    rank.ctl.on_step_time(9.0)
    rank.ctl.on_step_time(8.0)
    assert rank.ctl.now() == 9.0
