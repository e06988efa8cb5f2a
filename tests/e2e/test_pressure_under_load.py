"""End to end on a real server: while the engine is busy, locks give way only to older
programs (pressure_scope "younger").

A request that decodes until it is aborted keeps the engine busy. Three programs hold
locks, oldest first: P0, P1, P2. P0's next turn does not fit: the youngest lock (P2's)
gives way and P0 runs, with the other request still running. Then the turn of a program
younger than all of them, P3, does not fit: every lock belongs to an older program, so
none gives way and P3 waits, until the busy request is aborted and the idle engine lets
the locks go. With pressure_scope "any", P3 would take an older program's lock at once.

The test sets up scheduler state and waits for it (from /metrics and the responses),
never for a guessed duration. The sizes are chosen against the 8192-token pool of
conftest.BASE_ARGS, with SGLang's estimate of a running request's remaining output
clipped to CLIP tokens (the busy request would otherwise reserve a third of the pool,
by an estimate that decays with time).
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from sglang_continuum.launcher.client import generate, generate_stream, random_ids
from sglang_continuum.launcher.server import launch

from .conftest import BASE_ARGS, LOG_DIR

pytestmark = pytest.mark.server

CLIP = 512
POOL = 8192  # conftest.BASE_ARGS --max-total-tokens
# Two requests run at once (the busy one and a turn); locks may hold most of the pool.
ARGS = ["--max-running-requests", "2", "--continuum-lock-budget", "0.9",
        "--continuum-per-program-cap", "0.5"]
# Ranks by first arrival, not capped by the age cap, and locks that cannot lapse
# during the test, however slow the machine. No admission gate: it would hold P3's
# first turn while P0-P2 are resident, before its turn meets the locks this tests
# (tests/e2e/test_admission_gate.py tests the gate).
CONFIG = {"queue_age_cap_s": 3600, "max_ttl_s": 3600, "admission_gate": "off"}
TTL = "3600s"
OUT = 8
# First turns (prompt tokens): the locks are their contexts (prompt + OUT).
FIRST = {"P0": 500, "P1": 3500, "P2": 2500}
P0_NEXT = 2000  # P0's second turn: new tokens after its locked context
P3_PROMPT = 3000
DEADLINE_S = 600  # bounds a failure only


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    config = tmp_path_factory.mktemp("pressure-load") / "continuum.json"
    config.write_text(json.dumps(CONFIG))
    args = [*BASE_ARGS, *ARGS, "--continuum-config", str(config)]
    env = {"SGLANG_CLIP_MAX_NEW_TOKENS_ESTIMATION": str(CLIP)}
    with launch(args, LOG_DIR, env=env, name="pressure-load", timeout=600) as s:
        yield s


def _wait(condition, what: str) -> None:
    """Poll `condition` until true; the deadline only bounds a failure."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"still not {what} after {DEADLINE_S} s"
        time.sleep(0.1)


class Call(threading.Thread):
    """One request in the background; `.out` holds its response once `.done` is set."""

    def __init__(self, fn, *args, **kwargs):
        super().__init__(daemon=True)
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.out, self.error = None, None
        self.done = threading.Event()

    def run(self):
        try:
            self.out = self.fn(*self.args, **self.kwargs)
        except BaseException as e:  # re-raised by result()
            self.error = e
        finally:
            self.done.set()

    def result(self):
        assert self.done.wait(DEADLINE_S), "a request never finished"
        if self.error is not None:
            raise self.error
        return self.out


def test_under_load_locks_give_way_only_to_older_programs(server):
    released = "sglang_continuum_locks_released_pressure_total"
    ctx = {}
    for i, (name, n) in enumerate(FIRST.items()):  # first arrivals: P0, then P1, then P2
        prompt = random_ids(n, 700 + i)
        ctx[name] = prompt + generate(server.url, prompt, OUT, program=name, ttl=TTL,
                                      timeout=DEADLINE_S)["output_ids"]
    lock = {name: len(c) for name, c in ctx.items()}
    server.wait_metric("sglang_continuum_locked_tokens", sum(lock.values()), DEADLINE_S)
    base = server.metric(released)

    # The engine gets busy: a plain request decodes until it is aborted.
    running = threading.Event()
    busy = Call(generate_stream, server.url, random_ids(50, 799), 6000, started=running,
                rid="pressure-busy", timeout=DEADLINE_S)
    busy.start()
    assert running.wait(DEADLINE_S), "the busy request never started decoding"

    # The oldest program's turn lacks memory: the youngest lock gives way, only it.
    # Its free share of the pool: POOL - locks - the busy request (at most CLIP).
    assert P0_NEXT + OUT > POOL - sum(lock.values()) - 50
    assert P0_NEXT + OUT + CLIP < POOL - lock["P0"] - lock["P1"]
    p0 = Call(generate, server.url, ctx["P0"] + random_ids(P0_NEXT, 710), OUT,
              program="P0", ttl=TTL, timeout=DEADLINE_S)
    p0.start()
    # SGLang reports its queue after a scheduling pass (see P3 below): P0 is admitted
    # in the pass that first sees it, so the report never shows it waiting.
    _wait(lambda: p0.done.is_set() or server.metric("sglang:num_queue_reqs") >= 1,
          "P0 served or queued")
    assert p0.done.is_set(), "the oldest program's turn waited behind younger locks"
    assert p0.result()["meta_info"]["continuum"][0]["lock_hit"]
    p0_lock = lock["P0"] + P0_NEXT + OUT  # the lock its finished turn set
    # Once P0's new lock is counted: P2's lock gone (right), P1's, or both.
    ends = {lock["P1"] + p0_lock: "P2", lock["P2"] + p0_lock: "P1", p0_lock: "P1 and P2"}
    held = server.wait_metric("sglang_continuum_locked_tokens", lambda v: v in ends,
                              DEADLINE_S)
    assert ends[held] == "P2", f"gave way: {ends[held]}"
    assert server.metric(released) == base + 1
    assert not busy.done.is_set(), "the engine went idle: the test needs it busy"

    # A program younger than every lock holder: its turn lacks memory and no lock
    # may go while the engine is busy, though all of them together would make room.
    assert P3_PROMPT + OUT > POOL - held - 50
    assert P3_PROMPT + OUT + CLIP < POOL - p0_lock
    p3 = Call(generate, server.url, random_ids(P3_PROMPT, 720), OUT, program="P3",
              last=True, timeout=DEADLINE_S)
    p3.start()
    # SGLang reports its queue (at most every few decode steps) after a scheduling
    # pass: once it reports P3 waiting, the scheduler has tried to admit it at least
    # once while the busy request ran.
    _wait(lambda: p3.done.is_set() or server.metric("sglang:num_queue_reqs") >= 1,
          "P3 queued or served")
    assert not p3.done.is_set(), "a younger program's turn took an older program's lock"
    assert not busy.done.is_set(), "the engine went idle: the test needs it busy"
    assert server.metric(released) == base + 1
    assert server.metric("sglang_continuum_locked_tokens") == held

    # The engine goes idle: now the locks give way to P3 (the youngest holder's first).
    requests.post(f"{server.url}/abort_request", json={"rid": "pressure-busy"},
                  timeout=30).raise_for_status()
    assert busy.result()["meta_info"]["finish_reason"]["type"] == "abort"
    assert not p3.result()["meta_info"]["continuum"][0]["lock_hit"]
    assert server.wait_metric(released, base + 2, DEADLINE_S) == base + 2
    server.wait_metric("sglang_continuum_locked_tokens", p0_lock, DEADLINE_S)

    for name in ("P0", "P1"):  # end the programs: no lock is left behind
        generate(server.url, ctx[name] + random_ids(4, 730), 1, program=name, last=True,
                 timeout=DEADLINE_S)
    server.wait_metric("sglang_continuum_locked_tokens", 0, DEADLINE_S)
