"""End to end: the overlay on a real ``--tp-size 2`` CPU server, with SGLang's own
rank consensus checker on.

Every TP rank runs its own scheduler, radix tree and overlay controller, and SGLang
requires their tree operations to agree (``UnifiedRadixCache.evict`` is
``@rank_consensus(same_results=True)``; with ``SGLANG_ENABLE_RANK_CONSENSUS_CHECKER=1``
the server logs "Found rank divergence" and exits when they do not). Agent programs
with explicit ids run here while their locks lapse and give way under memory pressure,
beside a plain request (program inference on): every program completes, locks were set,
some lapsed and some were released under pressure, every lock is accounted for, no rank
diverged or hung, and both ranks' overlay logged the same status lines (the same
counters, learned durations and shares at the same steps: they decide from one shared
step time, adapter/step_time.py; read per rank, the learned tool durations differ).
Needs patches/0015 (PyNccl only where CUDA exists): without it the server dies at
start ("Expected a cuda device, but got: cpu").
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from sglang_continuum.launcher.client import generate, random_ids
from sglang_continuum.launcher.server import launch

from .conftest import LOG_DIR

pytestmark = pytest.mark.server

POOL = 6144
HOLD_PROMPT, LAPSE_PROMPT, OUT = 2000, 400, 8
# Two held contexts (2 x 2008) leave less than this plain prompt needs (3004 with its
# output): one lock must give way; either one released is enough.
PLAIN_PROMPT = 3000
ARGS = ["--tp-size", "2", "--max-total-tokens", str(POOL), "--random-seed", "0",
        "--continuum-status-interval", "1", "--continuum-lock-budget", "0.9",
        "--continuum-per-program-cap", "0.5"]
ENV = {"SGLANG_CPU_OMP_THREADS_BIND": "0|1",  # one core per rank
       "SGLANG_ENABLE_RANK_CONSENSUS_CHECKER": "1"}
DEADLINE_S = 300  # bounds a failure (a hang) only; every wait below is for state


@pytest.fixture(scope="module")
def server():
    with launch(ARGS, LOG_DIR, name="tp2", env=ENV, timeout=600) as s:
        yield s


def _turn(server, program: str, prompt: list[int], **hints) -> list[int]:
    """One turn; returns the prompt of the program's next turn (this prompt, the
    output and a tool result)."""
    out = generate(server.url, prompt, OUT, program=program, tool="bash",
                   timeout=DEADLINE_S, **hints)
    assert out["meta_info"]["completion_tokens"] == OUT, out["meta_info"]
    return prompt + out["output_ids"] + random_ids(24, len(prompt) + len(program))


def _status_lines(log: str, rank: int) -> list[str]:
    return re.findall(rf" TP{rank}\] continuum status (.*)", log)


def test_programs_lapse_and_give_way_with_ranks_in_consensus(server):
    counters = ("set", "lapsed", "released_pressure", "consumed", "dropped")
    before = {c: server.metric(f"sglang_continuum_locks_{c}_total") for c in counters}
    holds = {f"hold-{i}": random_ids(HOLD_PROMPT, 500 + i) for i in range(2)}
    lapses = {f"lapse-{i}": random_ids(LAPSE_PROMPT, 600 + i) for i in range(2)}
    with ThreadPoolExecutor(len(holds) + len(lapses) + 1) as pool:
        # First turns together: long locks for the holders, 1 s locks for the others.
        first = {p: pool.submit(_turn, server, p, ids, ttl="60s") for p, ids in holds.items()}
        first |= {p: pool.submit(_turn, server, p, ids, ttl="1s")
                  for p, ids in lapses.items()}
        nxt = {p: f.result() for p, f in first.items()}
        server.wait_metric("sglang_continuum_locks_lapsed_total",
                           lambda v: v >= before["lapsed"] + len(lapses), DEADLINE_S)
        server.wait_metric("sglang_continuum_locked_tokens",
                           len(holds) * (HOLD_PROMPT + OUT), DEADLINE_S)
        # A plain prompt that fits only if a held lock gives way, beside the short
        # programs' second turns (their locks lapse again during the tool gap).
        plain = pool.submit(generate, server.url, random_ids(PLAIN_PROMPT, 700), 4,
                            timeout=DEADLINE_S)
        second = {p: pool.submit(_turn, server, p, nxt[p], ttl="1s") for p in lapses}
        assert plain.result()["meta_info"]["completion_tokens"] == 4
        nxt |= {p: f.result() for p, f in second.items()}
        server.wait_metric("sglang_continuum_locks_released_pressure_total",
                           lambda v: v >= before["released_pressure"] + 1, DEADLINE_S)
        server.wait_metric("sglang_continuum_locks_lapsed_total",
                           lambda v: v >= before["lapsed"] + 2 * len(lapses), DEADLINE_S)
        # Every program ends with its last turn.
        last = [pool.submit(_turn, server, p, ids, last=True) for p, ids in nxt.items()]
        for f in last:
            f.result()
    server.wait_metric("sglang_continuum_locked_tokens", 0, DEADLINE_S)
    after = {c: server.metric(f"sglang_continuum_locks_{c}_total") for c in counters}
    delta = {c: after[c] - before[c] for c in counters}
    # 2 holders + 2 x 2 short turns set locks (the plain request, an inferred first
    # turn, may set one too); every short lock lapsed; a lock gave way; every lock
    # set was consumed, lapsed, released or dropped (none is left: locked_tokens 0).
    assert delta["set"] >= len(holds) + 2 * len(lapses), delta
    assert delta["lapsed"] >= 2 * len(lapses), delta
    assert delta["released_pressure"] >= 1, delta
    assert delta["set"] == delta["consumed"] + delta["lapsed"] + \
        delta["released_pressure"] + delta["dropped"], delta
    assert server.alive()
    log = server.log()
    # Both ranks' overlays logged the same states at the same steps (the last line of
    # one rank may not be written yet: compare what both wrote).
    lines = [_status_lines(log, rank) for rank in (0, 1)]
    common = min(map(len, lines))
    assert common >= 5, lines
    assert lines[0][:common] == lines[1][:common]
    assert "Rank consensus checker is enabled" in log  # the checker ran
    assert "Found rank divergence" not in log
    assert "Traceback" not in log, log[-4000:]
