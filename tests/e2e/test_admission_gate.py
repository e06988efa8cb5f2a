"""End to end: the admission gate on a real server, as the default runs it without a host
tier (``admission_gate: "device-only"``, the config key left out). Program A's first
turn fills most of a 4,096-token pool and A pauses in a tool; program B's first turn,
which would not fit beside A's context, waits (the gauge ``gate_waiting_programs`` says
so, and B has no answer) while a request without a program id is served; when A's last
turn finishes, A stops counting and B is served. Then a program that never marks a
last turn stops holding new programs back on an idle engine once it has been paused
longer than the learned horizon (the p99 of the tool durations seen, once
cold_start_samples have been: one here), not for max_ttl_s (600 s here). Without the
gate B is served at once and the gauge never reads 1."""

from __future__ import annotations

import json
import threading

import pytest

from sglang_continuum.launcher.client import generate, random_ids

pytestmark = pytest.mark.server

POOL = 4096
A_PROMPT, B_PROMPT, OUT = 2400, 1800, 16


@pytest.fixture(scope="module")
def server(start_server, tmp_path_factory):
    config = tmp_path_factory.mktemp("gate") / "continuum.json"
    # No admission_gate key: the default. Before cold_start_samples tool calls have
    # returned the horizon is max_ttl_s (600 s: A stays resident through the first test
    # however slow the machine); after one (A's), it is the learned p99.
    config.write_text(json.dumps({"cold_start_samples": 1, "max_ttl_s": 600.0}))
    return start_server(["--max-total-tokens", str(POOL), "--continuum-config", str(config),
                         "--continuum-infer-programs", "off"], name="gate")


def test_a_new_program_waits_until_the_resident_one_ends(server):
    a_ctx = random_ids(A_PROMPT, 1)
    out = generate(server.url, a_ctx, OUT, program="A", tool="pytest")
    a_ctx = a_ctx + out["output_ids"] + random_ids(8, 2)
    b_done = threading.Event()
    b_out = {}

    def program_b():
        # B is a one-turn program: its last turn leaves no lock behind (with
        # max_ttl_s at 600 s a lock would outlast the locked-tokens check below)
        b_out["r"] = generate(server.url, random_ids(B_PROMPT, 3), OUT, program="B",
                              last=True, timeout=600)
        b_done.set()

    thread = threading.Thread(target=program_b)
    thread.start()
    try:
        server.wait_metric("sglang_continuum_gate_waiting_programs", 1, timeout=300)
        # a plain request passes the held program: the engine is not blocked
        generate(server.url, random_ids(200, 4), OUT)
        assert not b_done.is_set(), "B was served while A was resident"
        assert server.metric("sglang_continuum_gate_resident_tokens") >= A_PROMPT
    finally:
        generate(server.url, a_ctx, OUT, program="A", last=True)  # A ends either way
    assert b_done.wait(600), "B was never admitted after A ended"
    thread.join(60)
    assert b_out["r"]["meta_info"]["completion_tokens"] == OUT
    assert server.metric("sglang_continuum_gate_holds_total") >= 1
    server.wait_metric("sglang_continuum_gate_waiting_programs", 0)
    server.wait_metric("sglang_continuum_locked_tokens", 0)


def test_a_program_that_never_marks_its_last_turn_stops_holding_new_ones_back(server):
    """The first test's A returned from its tool once: that duration is now the learned
    horizon (seconds, well under max_ttl_s = 600 s). C pauses and never comes back; D,
    which would not fit beside C, is served once C has been paused past the horizon on
    the idle engine. With the table's only bound max_ttl_s, D would wait 600 s and this
    test fails."""
    out = generate(server.url, random_ids(A_PROMPT, 5), OUT, program="C", tool="pytest")
    assert out["meta_info"]["completion_tokens"] == OUT
    d = generate(server.url, random_ids(B_PROMPT, 6), OUT, program="D", timeout=300)
    assert d["meta_info"]["completion_tokens"] == OUT
    generate(server.url, random_ids(200, 7), OUT)    # the server still serves
    server.wait_metric("sglang_continuum_gate_waiting_programs", 0)
