"""The Controller's glue for program inference: requests without ids get a program from
the IdentityTable, explicit fields and SGLang's session_id win, the flag turns it off."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sglang_continuum.adapter.controller import Controller, program_of
from sglang_continuum.core import PolicyConfig
from sglang_continuum.adapter.settings import Settings
from tests.unit.test_controller import Clock, FakeCache


def req(rid, prompt, output, program=None, session_id=None, salt=None):
    custom = {"program_id": program} if program else None
    return SimpleNamespace(
        rid=rid, sampling_params=SimpleNamespace(custom_params=custom, max_new_tokens=16),
        routing_key=None,
        session_id=session_id, cache_salt=salt, extra_key=None, origin_input_ids=prompt,
        output_ids=output, last_node=f"node-{rid}", prefix_len=0, is_retracted=False,
        finished_reason=None, finished=lambda: True)


TOOL = 7  # the fake tokenizer decodes this id as a shell tool call


class Tokenizer:
    def decode(self, ids):
        return "```bash\nls -la\n```" if TOOL in ids else "a final answer"


CAP = 180.0  # the queue age cap these cases are written for (the default is 360 s)


def make(infer=True):
    clock = Clock()
    settings = Settings(PolicyConfig(mode="fixed", fixed_ttl_s=30.0, queue_age_cap_s=CAP,
                                     per_program_max_fraction=0.5), infer_programs=infer)
    ctl = Controller(FakeCache(), settings, capacity_tokens=10_000, clock=clock)
    ctl.attach(SimpleNamespace(tokenizer=Tokenizer()))
    return ctl, clock


def turn(ctl, clock, r):
    ctl.on_queued(r, False)
    ctl.on_admitted(r)
    clock.t += 1.0
    ctl.on_release(r, checkpointed=True)
    clock.t += 1.0
    return program_of(r)


def plain_seen(ctl, clock, n=2):
    """n requests without an id that nothing continues: the server learns plain traffic."""
    for i in range(n):
        turn(ctl, clock, req(f"plain{i}", list(range(70_000 + 1000 * i,
                                                     70_300 + 1000 * i)), [5]))
        clock.t += 10.0  # past the continuation horizon (cold prior: 4.6 s)
        ctl.tick()
    ctl.cache.locked.clear()
    ctl.cache.unlocked.clear()
    assert ctl.inference.first_turns.p_continue == 0.0


def test_inference_is_on_by_default():
    assert Settings().infer_programs is True


def test_an_unmodified_agent_gets_a_lock_that_its_next_turn_consumes():
    ctl, clock = make()
    p1 = list(range(100, 400))
    first = turn(ctl, clock, req("r1", p1, [5, 6, TOOL]))
    assert first.inferred and first.key == ("", "~r1") and not first.proven
    assert ctl.cache.locked == [("lock", "node-r1")]  # its output called a tool
    second = req("r2", p1 + [5, 6, TOOL] + [9] * 20, [8, TOOL])
    ctl.on_queued(second, False)
    assert program_of(second).key == ("", "~r1") and program_of(second).proven
    ctl.on_admitted(second)
    assert ctl.cache.unlocked == [("lock", "node-r1")]
    snap = ctl.snapshot()
    assert (snap.programs_inferred, snap.turns_inferred) == (1, 1)


def test_a_first_turn_without_a_tool_call_locks_nothing_and_ranks_as_plain():
    ctl, clock = make()
    plain_seen(ctl, clock)  # beside plain traffic a first turn looks like one
    p1 = list(range(100, 400))
    first = turn(ctl, clock, req("r1", p1, [5, 6]))
    assert ctl.cache.locked == []  # a single-turn request looks the same: no lock
    clock.t += 10.0  # its continuation comes after the horizon: counted as plain
    ctl.tick()
    # Its continuation proves it: that turn locks (an agent whose format is unknown).
    second = turn(ctl, clock, req("r2", p1 + [5, 6] + [9] * 20, [8]))
    assert second.key == first.key and second.proven
    assert ctl.cache.locked == [("lock", "node-r2")] and ctl.inference.first_turns.share == 1 / 5
    # In the queue an unproven request is a plain one: "aged" puts it (1 - 1/5) age
    # caps ahead of its arrival, so it passes a proven program's later turn that came
    # first.
    clock.t += 40.0  # r2's lock lapses (fixed 30 s)
    ctl.tick()
    older = req("r4", p1 + [5, 6] + [9] * 20 + [8] + [9] * 10, [6])
    ctl.on_queued(older, False)
    clock.t += 1.0
    fresh = req("r5", list(range(900, 1200)), [6])
    ctl.on_queued(fresh, False)
    assert program_of(older).proven and not program_of(fresh).proven
    queue = [older, fresh]
    ctl.sort_waiting(queue)
    assert [r.rid for r in queue] == ["r5", "r4"]


def test_a_fresh_servers_first_turns_lock_as_likely_agents():
    ctl, clock = make()
    # No evidence yet: a first turn is as likely an agent's as not (the first wave of
    # agents on a fresh server keeps its first contexts).
    turn(ctl, clock, req("r1", list(range(100, 400)), [5, 6]))
    assert ctl.cache.locked == [("lock", "node-r1")]


def test_an_answer_after_tool_calls_ends_the_program():
    ctl, clock = make()
    p1 = list(range(100, 400))
    turn(ctl, clock, req("r1", p1, [5, TOOL]))
    ctx = p1 + [5, TOOL] + [9] * 20
    turn(ctl, clock, req("r2", ctx, [6]))  # no tool call: the agent answered
    assert ctl.cache.locked == [("lock", "node-r1")]  # no lock after the answer
    assert ctl.snapshot().programs_ended == 1
    assert len(ctl.inference.identity) == 0 and len(ctl.inference.programs) == 0
    # A prompt extending the answered context starts a new program (nothing to continue).
    third = req("r3", ctx + [6] + [9] * 20, [8])
    ctl.on_queued(third, False)
    assert program_of(third).key == ("", "~r3")


def test_explicit_program_id_and_session_id_win_and_are_not_recorded():
    ctl, clock = make()
    p1 = list(range(100, 400))
    assert turn(ctl, clock, req("r1", p1, [5], program="mine")).key == ("", "mine")
    assert turn(ctl, clock, req("r2", p1 + [5, 9], [6], session_id="s-1")).key == ("", "s-1")
    assert len(ctl.inference.identity) == 0
    assert ctl.snapshot().programs_inferred == 0


def test_off_serves_requests_without_ids_as_plain():
    ctl, clock = make(infer=False)
    assert turn(ctl, clock, req("r1", list(range(100, 400)), [5])) is None
    assert ctl.cache.locked == [] and ctl.inference is None
    assert ctl.snapshot().programs_inferred == 0


def test_prompts_too_short_to_key_stay_plain_requests():
    ctl, clock = make()
    assert turn(ctl, clock, req("health", [0], [5])) is None
    assert ctl.cache.locked == [] and ctl.snapshot().programs_inferred == 0


def test_first_turns_lock_once_first_turns_are_seen_continued():
    ctl, clock = make()
    plain_seen(ctl, clock)  # shares 1/3, 1/4: no lock
    for i in range(3):  # three agents: their first turns continued
        p = list(range(1000 * i + 100, 1000 * i + 400))
        turn(ctl, clock, req(f"a{i}", p, [5]))
        turn(ctl, clock, req(f"b{i}", p + [5] + [9] * 20, [6]))
    assert ctl.inference.first_turns.share == 4 / 7 and ctl.snapshot().first_turn_share == 4 / 7
    ctl.cache.locked.clear()
    # Now a first turn is more likely continued than not: it locks.
    turn(ctl, clock, req("r3", list(range(50_000, 50_300)), [5]))
    assert ctl.cache.locked[-1] == ("lock", "node-r3")


def test_plain_traffic_never_continued_keeps_no_locks_and_nearly_the_full_head_start():
    ctl, clock = make()
    plain_seen(ctl, clock, n=8)
    for i in range(3):
        turn(ctl, clock, req(f"p{i}", list(range(1000 * i + 100, 1000 * i + 400)), [5]))
        clock.t += 10.0
        ctl.tick()
    assert ctl.cache.locked == [] and ctl.inference.first_turns.share == 1 / 13
    assert ctl.policy.queue_key(None, 1000.0, False)[-2] == pytest.approx(
        1000.0 - 180.0 * 12 / 13)


def test_when_first_turns_are_agents_they_rank_as_new_programs():
    ctl, clock = make()
    for i in range(9):  # nine agents: every first turn continued
        p = list(range(1000 * i + 100, 1000 * i + 400))
        turn(ctl, clock, req(f"a{i}", p, [5]))
        turn(ctl, clock, req(f"b{i}", p + [5] + [9] * 20, [6]))
    assert ctl.inference.first_turns.share == 10 / 11
    # A fresh request ranks 16.4 s (180 s x 1/11) before its arrival, not 180 s: a turn
    # of a program that began 30 s before it goes first (with share 0 it would not).
    clock.t = 1000.0
    fresh = req("f1", list(range(60_000, 60_300)), [6])
    ctl.on_queued(fresh, False)
    assert not program_of(fresh).proven
    assert ctl.policy.queue_key(None, 1000.0, False)[-2] == pytest.approx(1000.0 - 180 / 11)
    program = ("", "~a0")
    ctl.policy.on_arrival(program, 970.0)  # known program: first arrival stays at a0's
    assert ctl.policy.queue_key(program, 970.0, False)[2] < 1000.0 - 180 / 11


def test_first_turns_plain_keeps_the_rule_before():
    clock = Clock()
    settings = Settings(PolicyConfig(mode="fixed", fixed_ttl_s=30.0, queue_age_cap_s=CAP,
                                     per_program_max_fraction=0.5), first_turns="plain")
    ctl = Controller(FakeCache(), settings, capacity_tokens=10_000, clock=clock)
    ctl.attach(SimpleNamespace(tokenizer=Tokenizer()))
    p1 = list(range(100, 400))
    turn(ctl, clock, req("r1", p1, [5, 6]))
    assert ctl.cache.locked == [] and ctl.inference.first_turns is None  # no lock, even when fresh
    second = turn(ctl, clock, req("r2", p1 + [5, 6] + [9] * 20, [8]))
    assert second.key == ("", "~r1") and second.proven  # it continues r1's program
    assert ctl.cache.locked == [("lock", "node-r2")]  # continued: it locks as before
    assert ctl.policy.queue_key(None, 1000.0, False)[-2] == 1000.0 - 180.0
