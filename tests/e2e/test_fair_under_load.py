"""End to end: under sustained agent load, a plain request that waited longer than the
queue age cap goes before every agent turn that arrived after it, locked or not.

Agents with explicit ids and a 60 s TTL hint send turn after turn with no tool gap, and
one request runs at a time (--max-running-requests 1). Once every agent has finished a
turn, each holds a lock, so every agent turn that waits is an in-TTL turn, and at least
one usually waits at every scheduling decision (where none does, as when a loaded
machine's clients lag between a response and the next turn, a plain request may pass at
once: nothing can be checked of it, and the test sends another, up to TRIES, until one
has waited the age cap). A plain request sent into that load ranks
behind them until it has waited longer than the age cap (set short here). From then on
it is overdue: only the turn running at that moment and the agents' turns waiting then
(at most one per agent; overdue too, they may rank before it) may still go first; every
turn that arrives later ranks behind it. The agents keep sending turns until the plain
request has finished, so the load lasts as long as it waits, whatever the speed of the
machine.

The test counts turns, not seconds: the agent turns sent after the plain request had
become overdue that finished before it (none may), and the agent turns that finished
between that moment and its own finish (at most one per agent). Without the rule (a
locked turn ranked before every unlocked request, however long it waited) the plain
request waits for the agents' whole work, and both counts grow with it."""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass

import pytest

from sglang_continuum.launcher.client import generate, random_ids
from sglang_continuum.launcher.server import launch

from .conftest import BASE_ARGS, LOG_DIR

pytestmark = pytest.mark.server

AGE_CAP_S = 5.0
# The plain request's own way from the client into the scheduler's queue (at most a
# scheduler step): turns sent this long after it became overdue by the client's clock
# reached the queue after it became overdue by the server's.
ENTRY_S = AGE_CAP_S / 2
AGENTS = 4
# Bounds a failure only: the agents stop once the plain requests have finished. Counted
# from when the first is sent: before that, on a fast machine, the agents that locked first
# may run many turns while the others' first turns wait (shortest prefill first) until
# they are overdue.
MAX_TURNS = 300
# Plain requests sent at most, until one waits past the age cap (see the test).
TRIES = 4
PROMPT, OUT, STEP = 300, 12, 8
# A pool that holds every agent's lock however many turns a fast machine runs.
ARGS = ["--max-running-requests", "1", "--continuum-lock-budget", "0.9",
        "--max-total-tokens", "32768"]
DEADLINE_S = 600  # bounds a failure only


@dataclass(frozen=True)
class Turn:
    agent: int
    sent: float
    finished: float
    lock_hit: bool
    locked: bool  # a lock was set after it


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    config = tmp_path_factory.mktemp("fair") / "continuum.json"
    config.write_text(json.dumps({"queue_age_cap_s": AGE_CAP_S}))
    args = [*BASE_ARGS, *ARGS, "--continuum-config", str(config)]
    with launch(args, LOG_DIR, name="fair", timeout=600) as s:  # a loaded machine
        yield s


def test_an_overdue_plain_request_goes_before_later_locked_turns(server):
    turns: list[Turn] = []
    guard = threading.Lock()
    locked_once = [threading.Event() for _ in range(AGENTS)]
    plain_sent, plain_done = threading.Event(), threading.Event()

    def agent(i: int) -> None:
        ctx = random_ids(PROMPT, 1000 + i)
        after = 0  # turns sent once the first plain request was sent
        for turn in itertools.count():
            after += plain_sent.is_set()
            last = plain_done.is_set() or after == MAX_TURNS
            sent = time.monotonic()
            out = generate(server.url, ctx, OUT, program=f"agent-{i}", ttl="60s",
                           last=last, timeout=DEADLINE_S)
            feedback = out["meta_info"]["continuum"][0]
            with guard:
                turns.append(Turn(i, sent, time.monotonic(), feedback["lock_hit"],
                                  feedback["lock"] is not None))
            if feedback["lock"] is not None:
                locked_once[i].set()
            if last:
                return
            ctx = ctx + out["output_ids"] + random_ids(STEP, (i + 1) << 20 | turn)

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(AGENTS)]
    for t in threads:
        t.start()
    tries: list[tuple[float, float]] = []  # (sent, finished) of each plain request
    try:
        # Every agent holds a lock: from here on each waiting agent turn is in its TTL.
        for event in locked_once:
            assert event.wait(DEADLINE_S), "an agent never got a lock"
        plain_sent.set()
        # On a loaded machine the agents' clients may leave the queue empty for a
        # moment (a response read, the next turn not yet sent) and a plain request
        # passes at once: the load did not hold it, and nothing can be checked of it.
        # Send another until one has waited past the age cap (the state under test).
        for k in range(TRIES):
            sent = time.monotonic()
            generate(server.url, random_ids(PROMPT, 999 + k), OUT, timeout=DEADLINE_S)
            tries.append((sent, time.monotonic()))
            if tries[-1][1] - sent >= AGE_CAP_S:
                break
    finally:
        plain_done.set()  # the agents end their programs either way
    for t in threads:
        t.join(DEADLINE_S)
    assert not any(t.is_alive() for t in threads)

    sent, finished = tries[-1]
    overdue = sent + AGE_CAP_S
    # Sent once the plain request was overdue, finished before it: overtook it.
    overtook = [t for t in turns if t.sent > overdue + ENTRY_S and t.finished < finished]
    # Served while it was overdue: the turn running when it became overdue and the
    # turns waiting then may go first (one turn in flight per agent).
    served_overdue = [t for t in turns if overdue + ENTRY_S < t.finished < finished]
    later = [t for t in turns if sent < t.sent < finished]
    print(f"plain requests waited {[round(f - s, 1) for s, f in tries]} s (age cap "
          f"{AGE_CAP_S} s); agent turns: {len(turns)}, sent while the last waited "
          f"{len(later)}, finished while it was overdue {len(served_overdue)}, of them "
          f"sent after it was overdue {len(overtook)}")
    # The load held it back: agent turns sent while it waited were in their TTL (they
    # consumed a lock) and ranked ahead of it until it was overdue.
    assert finished - sent >= AGE_CAP_S, f"no plain request of {TRIES} waited the age " \
        f"cap: {tries}"
    assert later and all(t.lock_hit for t in later), later
    assert not overtook, (len(overtook), len(turns))
    assert len(served_overdue) <= AGENTS, (len(served_overdue), len(turns))
    # The load outlasted it: every agent still finished a turn after it did.
    assert {t.agent for t in turns if t.finished > finished} == set(range(AGENTS))
    server.wait_metric("sglang_continuum_locked_tokens", 0, DEADLINE_S)
