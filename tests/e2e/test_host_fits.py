"""End to end: host_locks "fits" (the default) on a server with a host tier.

A host pool the device pool's size under write-through (the host mirrors the device, so
the tiers hold about the host pool's 4,096 tokens; 0.9 of it: ~3,690). Five programs
that ended fill the host pool with their copies; a live program's finished turn still
goes unlocked (its context fits, the dead copies are what the host evicts), where a rule
reading the host pool's free slots would lock it. Then live programs are added: each
goes unlocked while the live contexts fit, and the one that takes them past the pool
locks. Decisions are read from the response's feedback (meta_info.continuum)."""

from __future__ import annotations

import pytest

from sglang_continuum.launcher.client import generate, random_ids

pytestmark = pytest.mark.server

POOL = 4096
PROMPT = 800
OUT = 16  # a context is PROMPT + OUT = 816 tokens


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(["--enable-hierarchical-cache", "--hicache-ratio", "1",
                         "--hicache-write-policy", "write_through",
                         "--max-total-tokens", str(POOL),
                         "--continuum-infer-programs", "off"], name="host-fits")


def _decision(result: dict) -> dict:
    (fb,) = result["meta_info"]["continuum"]
    return fb


def test_locks_follow_the_live_contexts_not_the_host_pools_free_slots(server):
    for i in range(5):  # programs that ended: their copies fill the host pool
        fb = _decision(generate(server.url, random_ids(PROMPT, 300 + i), OUT,
                                program=f"done-{i}", last=True))
        assert fb["decision"] == "last_turn"
    decisions = []
    for i in range(5):  # live programs, one turn each, paused in a tool call
        fb = _decision(generate(server.url, random_ids(PROMPT, 400 + i), OUT,
                                program=f"live-{i}", tool="pytest"))
        decisions.append((fb["decision"], fb["lock"] is not None))
    # 1-4 live contexts (816-3,264 tokens) fit; the fifth (4,080) does not
    assert decisions[:4] == [("host_tier", False)] * 4, decisions
    assert decisions[4][1] and decisions[4][0] != "host_tier", decisions
    server.wait_metric("sglang_continuum_active_locks", 1)
