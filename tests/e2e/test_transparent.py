"""End to end: transparent program identity (on by default).

A plain OpenAI-SDK chat loop that sends no overlay field (no extra_body) gets TTL locks
and cache hits: the server infers its program from the prompt. Its first turn is a plain
request until a later prompt continues it (the tiny model's random output calls no tool):
it locks only where first turns are at least as likely continued as not (the learned
share, core/inference.py FirstTurns: 1/2 on a fresh server, before any evidence). Two programs that share a long system prompt
and the same first user message stay two programs. On the CPU the cost model rightly
picks TTL 0 for the tiny model, so the server runs a fixed TTL (the only overlay flag
these servers get besides the caps).
"""

from __future__ import annotations

import pytest
from openai import OpenAI

from sglang_continuum.launcher.client import generate, random_ids

pytestmark = pytest.mark.server

POOL = 4096  # per-program lock cap: a quarter, 1024 tokens


@pytest.fixture(scope="module")
def server(start_server):
    # A lock budget of 90%: the last lock of one test's agent may outlive the test.
    return start_server(["--max-total-tokens", str(POOL), "--enable-cache-report",
                         "--continuum-policy", "fixed", "--continuum-fixed-ttl", "30",
                         "--continuum-lock-budget", "0.9",
                         # The competitors' 1500-token prompts must not lock (see below).
                         "--continuum-per-program-cap", "0.25"], name="transparent")


@pytest.fixture(scope="module")
def client(server):
    return OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)


def _counts(server) -> dict[str, float]:
    server.settle()  # the exported snapshot holds everything sent before
    return {name: server.metric(f"sglang_continuum_{name}_total")
            for name in ("programs_inferred", "turns_inferred", "locks_set",
                         "locks_consumed")}


def _chat(client, messages, temperature=0.0, seed=None):
    r = client.chat.completions.create(model="default", messages=messages, max_tokens=12,
                                       temperature=temperature, seed=seed)
    u = r.usage
    return r.choices[0].message.content, u.prompt_tokens, u.prompt_tokens_details.cached_tokens


def _share(server) -> float:
    return server.metric("sglang_continuum_first_turn_continued_share")


def test_plain_openai_sdk_agent_gets_locks_and_hits_under_competition(server, client):
    before = _counts(server)
    first = 1 if _share(server) >= 0.5 else 0  # a fresh server: 1/2, the first turn locks
    messages = [{"role": "system", "content": "You are a coding agent. " * 40},
                {"role": "user", "content": "fix the failing test in foo.py"}]
    turns = []
    for i in range(4):
        text, prompt, cached = _chat(client, messages)
        turns.append((prompt, cached))
        # The tool call: while it runs, three 1500-token prompts overflow the pool.
        for j in range(3):
            generate(server.url, random_ids(1500, 4000 + 10 * i + j), 2)
        messages += [{"role": "assistant", "content": text},
                     {"role": "user", "content": f"tool output {i}: ok " * 5}]
    ratios = [cached / prev_prompt for (prev_prompt, _), (_, cached) in zip(turns, turns[1:])]
    print(f"turns (prompt, cached): {turns}; cached / previous prompt: "
          f"{[round(r, 3) for r in ratios]}")
    # Turns 2 and 3 held a lock through the competitors' overflow; turn 1 too where it
    # locked (else the competitors may evict it).
    assert all(r >= 0.9 for r in ratios[1 - first:]), turns
    after = _counts(server)
    # 4 chat turns and 12 competitors carry no id; 3 chat turns continue the first.
    assert after["turns_inferred"] - before["turns_inferred"] == 3
    assert after["programs_inferred"] - before["programs_inferred"] == 1 + 12
    # Turns 2-4 locked (under 1024 tokens), the first where the share allowed; the
    # competitors' 1500 tokens exceed the per-program cap. Each later turn consumed its
    # predecessor's lock.
    assert after["locks_set"] - before["locks_set"] == first + 3 + 1  # + the barrier's
    assert after["locks_consumed"] - before["locks_consumed"] == first + 2 + 1


def test_programs_sharing_system_prompt_and_first_message_are_not_merged(server, client):
    before = _counts(server)
    shared = [{"role": "system", "content": "You are a careful agent. " * 60},
              {"role": "user", "content": "list the files"}]
    # Sampled outputs (seeded, so the test is repeatable): the first replies differ.
    a_text, _, _ = _chat(client, shared, temperature=1.0, seed=1)
    b_text, _, _ = _chat(client, shared, temperature=1.0, seed=2)
    assert a_text != b_text
    a2 = shared + [{"role": "assistant", "content": a_text},
                   {"role": "user", "content": "now run the tests"}]
    b2 = shared + [{"role": "assistant", "content": b_text},
                   {"role": "user", "content": "now run the tests"}]
    # B's second turn first: had it been taken for A's, A's would start a new program.
    _, b_prompt, b_cached = _chat(client, b2)
    _, a_prompt, a_cached = _chat(client, a2)
    print(f"A2 cached {a_cached}/{a_prompt}, B2 cached {b_cached}/{b_prompt}")
    assert a_cached >= 0.9 * a_prompt and b_cached >= 0.9 * b_prompt
    after = _counts(server)
    assert after["programs_inferred"] - before["programs_inferred"] == 2
    assert after["turns_inferred"] - before["turns_inferred"] == 2
    # A1 and B1 were unproven: each locked iff the learned share was >= 1/2 when it
    # finished (earlier tests' competitors move it), and then its own continuation
    # consumed it; A2 and B2 continued them and locked.
    first = after["locks_set"] - before["locks_set"] - (2 + 1)  # A2, B2 + the barrier
    assert first in (0, 1, 2)
    assert after["locks_consumed"] - before["locks_consumed"] == first + 1


def test_sglang_session_id_is_a_program_id_and_is_not_inferred(server):
    before = _counts(server)
    prompt = random_ids(400, 5000)
    first = generate(server.url, prompt, 4, session_id="sess-1")
    second = generate(server.url, prompt + first["output_ids"] + random_ids(20, 5001), 4,
                      session_id="sess-1")
    assert second["meta_info"]["cached_tokens"] >= 400
    after = _counts(server)
    assert after["programs_inferred"] == before["programs_inferred"]
    assert after["turns_inferred"] == before["turns_inferred"]
    assert after["locks_set"] - before["locks_set"] == 2 + 1  # both turns + the barrier
    assert after["locks_consumed"] - before["locks_consumed"] == 1 + 1
