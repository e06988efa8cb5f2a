"""End to end: a program's next turn is aborted, or its client disconnects, while the
program holds a lock (a long max TTL: nothing lapses meanwhile). The lock is dropped
(locks_dropped_total rises by one per program), the other program's lock is untouched,
and afterwards the KV pool is whole: no lock is left and SGLang's used tokens are no
more than they were on the idle server (the soak's leak check).

The turns are made to wait in the queue behind a running request (one running request
at a time), so the abort and the disconnect hit them while their locks are held: an
admitted turn would already have consumed its lock."""

from __future__ import annotations

import json
import socket
import threading
from urllib.parse import urlparse

import pytest
import requests

from sglang_continuum.launcher.client import generate, generate_stream, random_ids

pytestmark = pytest.mark.server

ARGS = ["--max-running-requests", "1", "--continuum-max-ttl", "600"]
PROMPT, OUT = 600, 8
DEADLINE_S = 300  # bounds a failure only; every wait below is for state
PROBES = 50  # fresh requests read before a used-token count counts as a leak


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(ARGS, name="aborts")


def _used_tokens(server, seed: int) -> float:
    """Serve one fresh request (it refreshes SGLang's gauges), then read the KV that is
    neither free nor evictable (tools/soak.py does the same). The request is a program's
    last turn: a request without a program id may be an agent's first turn and get a
    short lock, which the lock counts below would see."""
    generate(server.url, random_ids(64, seed), 1, program=f"probe-{seed}", last=True)
    return server.metric("sglang:num_used_tokens")


def _disconnecting_turn(url: str, body: dict, closed: threading.Event,
                        close: threading.Event) -> None:
    """Send a streaming request on a raw socket and close it when `close` is set."""
    u = urlparse(url)
    data = json.dumps(body)
    with socket.create_connection((u.hostname, u.port), timeout=DEADLINE_S) as s:
        s.sendall((f"POST /generate HTTP/1.1\r\nHost: {u.hostname}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                   f"\r\n{data}").encode())
        close.wait(DEADLINE_S)
    closed.set()


def test_abort_and_disconnect_while_locked_drop_the_lock_and_leak_nothing(server):
    idle_used = _used_tokens(server, 1)
    dropped = server.metric("sglang_continuum_locks_dropped_total")
    nxt = {}
    for i, name in enumerate(["aborted", "disconnected", "kept"]):
        prompt = random_ids(PROMPT, 800 + i)
        out = generate(server.url, prompt, OUT, program=name, ttl="600s", tool="bash")
        nxt[name] = prompt + out["output_ids"] + random_ids(16, 900 + i)
    server.wait_metric("sglang_continuum_active_locks", 3, DEADLINE_S)

    # A long plain request runs; the next turns queue behind it, their locks held.
    started = threading.Event()
    blocker = threading.Thread(target=generate_stream, daemon=True, kwargs=dict(
        url=server.url, ids=random_ids(64, 950), max_new=4000, started=started,
        rid="blocker"))
    blocker.start()
    assert started.wait(DEADLINE_S)
    queued = server.metric("sglang:num_queue_reqs")
    results = {}

    def turn(name, **extra):
        try:
            results[name] = requests.post(f"{server.url}/generate", timeout=DEADLINE_S, json={
                "input_ids": nxt[name], **extra, "sampling_params": {
                    "max_new_tokens": OUT, "ignore_eos": True,
                    "custom_params": {"program_id": name, "tool": "bash"}}})
        except requests.RequestException as e:
            results[name] = e

    aborted = threading.Thread(target=turn, args=("aborted",), kwargs={"rid": "turn-2"})
    aborted.start()
    close, closed = threading.Event(), threading.Event()
    body = {"input_ids": nxt["disconnected"], "stream": True, "sampling_params": {
        "max_new_tokens": OUT, "ignore_eos": True,
        "custom_params": {"program_id": "disconnected", "tool": "bash"}}}
    threading.Thread(target=_disconnecting_turn, args=(server.url, body, closed, close),
                     daemon=True).start()
    server.wait_metric("sglang:num_queue_reqs", lambda v: v >= queued + 2, DEADLINE_S)
    assert server.metric("sglang_continuum_active_locks") == 3  # nothing consumed yet

    requests.post(f"{server.url}/abort_request", json={"rid": "turn-2"}, timeout=30)
    server.wait_metric("sglang_continuum_locks_dropped_total",
                       lambda v: v >= dropped + 1, DEADLINE_S)
    close.set()
    assert closed.wait(DEADLINE_S)
    server.wait_metric("sglang_continuum_locks_dropped_total",
                       lambda v: v >= dropped + 2, DEADLINE_S)
    assert server.metric("sglang_continuum_active_locks") == 1  # "kept" still holds
    aborted.join(DEADLINE_S)
    assert not isinstance(results["aborted"], Exception), results["aborted"]

    requests.post(f"{server.url}/abort_request", json={"rid": "blocker"}, timeout=30)
    blocker.join(DEADLINE_S)
    # The kept program's last turn consumes its lock; then the pool is whole.
    out = generate(server.url, nxt["kept"], OUT, program="kept", last=True)
    assert out["meta_info"]["cached_tokens"] >= PROMPT  # its context had been kept
    server.wait_metric("sglang_continuum_locked_tokens", 0, DEADLINE_S)
    assert server.metric("sglang_continuum_locks_dropped_total") == dropped + 2
    # The gauge is sampled while a probe runs (its own tokens may count), and on a
    # loaded machine it can be sampled before the scheduler has released the request
    # served just before (seen: 625 tokens, the kept program's last turn): probe until
    # the reading is back at the idle one. A leaked lock or request never comes back.
    used = _used_tokens(server, 2)
    for seed in range(3, 3 + PROBES):
        if used <= idle_used:
            break
        used = _used_tokens(server, seed)
    assert used <= idle_used, f"{used} tokens used after {PROBES} probes (idle: {idle_used})"
    assert server.alive()
    assert "Traceback" not in server.log()
