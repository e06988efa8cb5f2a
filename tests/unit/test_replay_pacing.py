import threading
import time

import pytest

from sglang_continuum.replay import (Concurrency, FakeClock, Poisson, ProgramResult, Replay,
                                     Reply, poisson_arrivals)
from sglang_continuum.replay.agent import run_program, tool_hint
from sglang_continuum.workload import Program, Turn


class FakeServer:
    """Answers at once (or after ``latency`` fake seconds) and records every call."""

    def __init__(self, clock, latency=0.0):
        self.clock, self.latency, self.calls = clock, latency, []
        self.lock = threading.Lock()

    def __call__(self, ids, max_new, custom):
        with self.lock:
            self.calls.append((self.clock.now(), list(ids), max_new, dict(custom)))
            n = len(self.calls)
        self.clock.advance(self.latency)
        out = tuple(1000 + n * 10 + k for k in range(max_new))
        return Reply(out, 0.01, {"prompt_tokens": len(ids), "cached_tokens": 3,
                                 "completion_tokens": max_new, "queue_time": 0.002})


def prog(pid="p", gaps=(1.5, 0.25)):
    prompts = [100, 140, 200]
    return Program(pid, tuple(Turn(prompts[i], 4, ("Bash",) if i < 2 else (),
                                   gaps[i] if i < 2 else 0.0) for i in range(3)))


@pytest.fixture(autouse=True)
def no_real_sleep(monkeypatch):
    def boom(*_a, **_k):
        raise AssertionError("real sleep in a fake-clock test")
    monkeypatch.setattr(time, "sleep", boom)


def test_agent_paces_gaps_and_builds_prompts():
    clock = FakeClock(100.0)
    server = FakeServer(clock, latency=0.5)
    res = ProgramResult("p", 0.0, 3)
    run_program(prog(), server, clock, res, threading.Event(), t0=100.0)
    times = [c[0] for c in server.calls]
    assert times == [100.0, 102.0, 102.75]  # latency + gap between calls
    assert clock.sleeps == [1.5, 0.25]
    ids = [c[1] for c in server.calls]
    assert [len(x) for x in ids] == [100, 140, 200]
    assert ids[1][:100] == ids[0] and ids[1][100:104] == [1010, 1011, 1012, 1013]
    assert ids[2][:140] == ids[1] and ids[2][140:144] == [1020, 1021, 1022, 1023]
    fields = [c[3] for c in server.calls]
    assert fields[0] == {"program_id": "p", "last_turn": False, "tool": "Bash"}
    assert fields[2] == {"program_id": "p", "last_turn": True}
    assert res.complete and res.jct_s == pytest.approx(3.25)
    assert [t.start_s for t in res.turns] == [0.0, 2.0, 2.75]
    assert res.turns[0].queue_s == 0.002 and res.turns[0].queue_source == "server"


def test_queue_falls_back_to_ttft_and_errors_are_kept():
    clock = FakeClock()

    def send(ids, n, custom):
        if custom["last_turn"]:
            raise RuntimeError("boom")
        return Reply((5,) * n, 0.3, {})

    res = run_program(prog(), send, clock, ProgramResult("p", 0, 3), threading.Event())
    assert res.turns[0].queue_s == 0.3 and res.turns[0].queue_source == "ttft"
    assert res.error == "RuntimeError: boom" and not res.complete and res.jct_s is None


def test_poisson_arrivals_paced_by_the_clock():
    clock = FakeClock()
    server = FakeServer(clock)
    progs = [prog(f"p{i}", gaps=(0.0, 0.0)) for i in range(5)]
    inline = lambda fn: fn()  # noqa: E731  (runs each program to completion at once)
    results = Replay(progs, server, Poisson(0.5, seed=7), clock=clock, spawn=inline).run()
    expected = poisson_arrivals(5, 0.5, 7)
    assert [r.arrival_s for r in results] == expected
    firsts = [c[0] for c in server.calls if len(c[1]) == 100]
    assert firsts == pytest.approx(expected)
    assert all(r.complete for r in results)


def test_poisson_arrivals_are_poisson():
    ts = poisson_arrivals(20001, 2.0, 1)
    assert ts[0] == 0.0 and ts == sorted(ts)
    assert (ts[-1] / 20000) == pytest.approx(0.5, rel=0.03)
    assert poisson_arrivals(10, 2.0, 1) == ts[:10]


def test_concurrency_bounds_programs_in_flight():
    clock = FakeClock()
    live, peak, lock, firsts = set(), [0], threading.Lock(), [0]
    gate = threading.Barrier(3, timeout=5)

    def send(ids, n, custom):
        with lock:
            live.add(custom["program_id"])
            peak[0] = max(peak[0], len(live))
            firsts[0] += len(ids) == 100
            wave = firsts[0] <= 3
        if len(ids) == 100 and wave:
            try:
                gate.wait()  # the first wave really overlaps
            except threading.BrokenBarrierError:
                pass
        if custom["last_turn"]:
            with lock:
                live.discard(custom["program_id"])
        return Reply((7,) * n, 0.0, {})

    progs = [prog(f"p{i}", gaps=(0.0, 0.0)) for i in range(7)]
    results = Replay(progs, send, Concurrency(3), clock=clock).run()
    assert peak[0] == 3
    assert sorted(r.program_id for r in results) == sorted(p.program_id for p in progs)
    assert all(r.complete for r in results)


def test_stop_returns_partial_results():
    clock = FakeClock()
    stop = threading.Event()

    def send(ids, n, custom):
        if len(ids) == 140:
            stop.set()  # Ctrl-C while the second turn runs
        return Reply((7,) * n, 0.0, {})

    results = Replay([prog("a"), prog("b")], send, Concurrency(1), clock=clock,
                     stop=stop).run()
    assert len(results) == 1 and results[0].interrupted and len(results[0].turns) == 2


def test_keyboard_interrupt_in_open_loop():
    class InterruptingClock(FakeClock):
        def sleep(self, seconds, stop=None):
            if seconds > 0:
                raise KeyboardInterrupt
            return super().sleep(seconds, stop)

    clock = InterruptingClock()
    r = Replay([prog("a"), prog("b")], FakeServer(clock), Poisson(1.0), clock=clock,
               spawn=lambda fn: None)  # programs never run: both still pending
    results = r.run(grace_s=0)
    assert r.stop.is_set() and [x.program_id for x in results] == ["a"]
    assert results[0].interrupted


def test_tool_hint_sanitised():
    assert tool_hint("mcp__ide__getDiagnostics") == "mcp__ide__getDiagnostics"
    assert tool_hint("Web Search+x") == "Web_Search_x"
    assert tool_hint(None) is None and len(tool_hint("a" * 100)) == 64
