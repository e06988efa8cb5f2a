"""End to end on a real server: locks give way under memory pressure (youngest program
first, no retraction), and the waiting queue is program-level FCFS (queue_order "fcfs")
or, by default, fewest uncached prefill tokens first (queue_order "srpt").

Both tests set up scheduler *state* and wait for it (read from /metrics), never for a
guessed duration, so they hold on a fast idle machine and on an oversubscribed one."""

from __future__ import annotations

import json
import threading

import pytest
import requests

from sglang_continuum.launcher.client import generate, generate_stream, random_ids

pytestmark = pytest.mark.server

# Locks may hold most of the pool here; one running request at a time makes the
# waiting queue observable: completion order is the scheduler's admission order.
# The queue age cap (a config-file key, default 180 s) is raised to an hour so that no
# rank depends on how long this machine takes between submissions (a plain request ranks
# one cap before its arrival; an agent turn never more than one cap before its own).
ARGS = ["--continuum-lock-budget", "0.9", "--continuum-per-program-cap", "0.5",
        "--max-running-requests", "1"]
CONTEXT = 2208  # 2200 prompt + 8 output tokens


@pytest.fixture(scope="module")
def server(start_server, tmp_path_factory):
    config = tmp_path_factory.mktemp("pressure") / "continuum.json"
    # program FCFS (queue_order "fcfs"): the order test_waiting_queue_is_program_fcfs
    # checks; the default "srpt" would serve D2 (its context cached) before S1 and B1
    config.write_text(json.dumps({"queue_age_cap_s": 3600, "queue_order": "fcfs"}))
    return start_server([*ARGS, "--continuum-config", str(config)], name="pressure")


def test_pressure_releases_youngest_lock_without_retraction(server):
    contexts = {}
    for i, name in enumerate(["oldest", "middle", "youngest"]):
        prompt = random_ids(2200, 300 + i)
        out = generate(server.url, prompt, 8, program=name, ttl="60s")["output_ids"]
        contexts[name] = prompt + out
    server.wait_metric("sglang_continuum_locked_tokens", 3 * CONTEXT)
    released = server.metric("sglang_continuum_locks_released_pressure_total")
    # 6624 of 8192 tokens are locked; this prompt needs 3004: one lock must go.
    generate(server.url, random_ids(3000, 399), 4)
    server.wait_metric("sglang_continuum_locks_released_pressure_total", released + 1)
    assert server.wait_metric("sglang_continuum_locked_tokens", 2 * CONTEXT) == 2 * CONTEXT
    # No running request was retracted: SGLang's retraction gauge reads 0, its
    # labelled counter has no sample yet (it gets one at the first retraction), and
    # its "Retract requests" log line never appeared.
    assert server.metric("sglang:num_retracted_reqs") == 0
    assert not any(k.startswith("sglang:num_retracted_requests_total")
                   for k in server.metrics())
    assert "Retract requests" not in server.log()
    cached = {name: generate(server.url, ctx + random_ids(20, 7), 2, program=name,
                             last=True)["meta_info"]["cached_tokens"]
              for name, ctx in contexts.items()}
    assert cached["oldest"] >= 0.95 * CONTEXT and cached["middle"] >= 0.95 * CONTEXT, cached
    assert cached["youngest"] < 0.2 * CONTEXT, cached
    server.wait_metric("sglang_continuum_locked_tokens", 0)


def test_waiting_queue_is_program_fcfs(server):
    # In-TTL program first; then by rank: the plain request S1 ranks as a program that
    # began one queue age cap (here an hour) before it (plain_requests "aged",
    # the default), so ahead of D (began minutes ago), then D by its first arrival, then the
    # new program B; stock SGLang (fcfs-like for equal prefixes) would serve S1, B1, D2, A2.
    assert _served_order(server) == ["A2", "S1", "D2", "B1"]
    server.wait_metric("sglang_continuum_locked_tokens", 0)


@pytest.fixture(scope="module")
def srpt_server(start_server, tmp_path_factory):
    config = tmp_path_factory.mktemp("srpt") / "continuum.json"
    config.write_text(json.dumps({"queue_age_cap_s": 3600}))  # the default queue_order
    return start_server([*ARGS, "--continuum-config", str(config)], name="srpt")


def test_waiting_queue_is_fewest_uncached_tokens_first_by_default(srpt_server):
    # The locked turn first; then D2, whose program's context is still cached (its
    # 30 new tokens are all it prefills: SGLang's prefix match, read at the sort); then
    # the two 300-token prompts by rank: the plain S1 (one age cap old), the new B1.
    assert _served_order(srpt_server) == ["A2", "D2", "S1", "B1"]


def _served_order(server) -> list[str]:
    """Labels of four competing requests in the order the server ran them, one at a
    time behind a blocker: S1 (plain, 300 new tokens), B1 (a new program, 300), D2 (an
    old program whose lock lapsed at once, 30 new tokens after its cached context), A2
    (a program inside its TTL, 30 new tokens)."""
    d_ctx = random_ids(300, 500)
    d_ctx += generate(server.url, d_ctx, 4, program="D", ttl="0s")["output_ids"]
    a_ctx = random_ids(300, 501)
    a_ctx += generate(server.url, a_ctx, 4, program="A", ttl="60s")["output_ids"]
    server.wait_metric("sglang_continuum_active_locks", 1)  # A waits inside its TTL

    done: list[tuple[str, str]] = []
    guard = threading.Lock()

    def run(label, ids, max_new, **kw):
        out = generate(server.url, ids, max_new, **kw)
        with guard:
            done.append((label, out["meta_info"]["finish_reason"]["type"]))

    # X runs alone (--max-running-requests 1) and would decode for minutes; it is
    # aborted once the queue is known to hold all four competitors, whatever the
    # speed of the machine.
    running = threading.Event()

    def run_blocker():
        out = generate_stream(server.url, random_ids(50, 502), 6000, started=running,
                              rid="fcfs-blocker")
        with guard:
            done.append(("X", out["meta_info"]["finish_reason"]["type"]))

    blocker = threading.Thread(target=run_blocker)
    blocker.start()
    assert running.wait(600), "the blocker never started decoding"
    submissions = [
        ("S1", random_ids(300, 503), {}),                                    # stock request
        ("B1", random_ids(300, 504), {"program": "B"}),                      # new program
        ("D2", d_ctx + random_ids(30, 505), {"program": "D", "last": True}),  # old program
        ("A2", a_ctx + random_ids(30, 506), {"program": "A", "last": True}),  # inside TTL
    ]
    threads = []
    for queued, (label, ids, kw) in enumerate(submissions, start=1):
        t = threading.Thread(target=run, args=(label, ids, 24), kwargs=kw)
        t.start()
        threads.append(t)
        # Arrival order is part of the scenario: the next one goes once this one waits.
        server.wait_metric("sglang:num_queue_reqs", queued)
    assert not done, f"a request finished while the blocker ran: {done}"
    requests.post(f"{server.url}/abort_request", json={"rid": "fcfs-blocker"},
                  timeout=30).raise_for_status()
    for t in [blocker, *threads]:
        t.join(timeout=600)
    assert done[0] == ("X", "abort"), done
    return [label for label, _ in done[1:]]
