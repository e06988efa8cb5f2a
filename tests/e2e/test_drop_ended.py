"""End to end: ``drop_ended`` on a real server. Program A runs two turns and ends; at its
end the server gives up the device KV only A's context used (the counter
``ended_dropped_tokens_total`` says how much), so A's context sent again is prefilled,
not a hit; program B, paused in a tool call meanwhile with no lock (policy off), keeps
its KV: its next turn hits its whole context. The server then serves on."""

from __future__ import annotations

import json

import pytest

from sglang_continuum.launcher.client import generate, random_ids

pytestmark = pytest.mark.server

PROMPT, OUT = 600, 8


@pytest.fixture(scope="module")
def server(start_server, tmp_path_factory):
    config = tmp_path_factory.mktemp("drop") / "continuum.json"
    # policy off: no TTL lock keeps anything; what stays is ordinary cache, so a hit on
    # B's context shows the drop left it alone.
    config.write_text(json.dumps({"policy": "off", "drop_ended": True}))
    return start_server(["--max-total-tokens", "8192", "--continuum-config", str(config),
                         "--continuum-infer-programs", "off"], name="drop-ended")


def test_an_ended_programs_kv_goes_and_a_live_ones_stays(server):
    b_ctx = random_ids(PROMPT, 11)
    out = generate(server.url, b_ctx, OUT, program="B", tool="pytest")
    b_ctx = b_ctx + out["output_ids"] + random_ids(8, 12)
    a_ctx = random_ids(PROMPT, 13)
    out = generate(server.url, a_ctx, OUT, program="A", tool="pytest")
    a_ctx = a_ctx + out["output_ids"] + random_ids(8, 14)
    out = generate(server.url, a_ctx, OUT, program="A", last=True)
    assert out["meta_info"]["cached_tokens"] >= PROMPT  # A's context was still there
    a_all = a_ctx + out["output_ids"]
    server.wait_metric("sglang_continuum_programs_ended_total", 1)
    # SGLang caches a finished request's prompt and all but its last output token
    server.wait_metric("sglang_continuum_ended_dropped_tokens_total",
                       lambda v: v >= len(a_all) - 1)
    # A's context again (a new program): given up at A's end, so prefilled
    again = generate(server.url, a_all, OUT, program="A2", last=True)
    assert again["meta_info"]["cached_tokens"] < PROMPT // 10, again["meta_info"]
    # B's next turn: its context stayed
    out = generate(server.url, b_ctx, OUT, program="B", last=True)
    assert out["meta_info"]["cached_tokens"] >= PROMPT, out["meta_info"]
    generate(server.url, random_ids(200, 15), OUT)  # the server still serves
