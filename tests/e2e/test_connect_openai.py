"""End to end: OpenAI-SDK agents (ProgramSession, examples/mini_swe_agent.py)
against a real overlay server with --enable-cache-report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from openai import OpenAI

from sglang_continuum.connect.openai_agent import ProgramSession
from sglang_continuum.launcher.client import generate, random_ids

pytestmark = pytest.mark.server

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mini_swe_agent.py"
POOL = 4096


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(["--max-total-tokens", str(POOL), "--enable-cache-report"],
                        name="connect-openai")


@pytest.fixture(scope="module")
def client(server):
    return OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)


def test_mini_swe_agent_fixes_the_repo_and_reuses_its_cache(server):
    set0 = server.metric("sglang_continuum_locks_set_total")
    used0 = server.metric("sglang_continuum_locks_consumed_total")
    out = subprocess.run([sys.executable, str(EXAMPLE), "--url", server.url, "--json",
                          "--program-id", "swe-cli", "--ttl", "30s"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["fixed"]  # the commands really ran: the test passes after the edit
    turns = result["turns"]
    assert [t["command"].split()[0] for t in turns] == ["cat", "python", "sed", "python",
                                                        "echo"]
    assert [t["last_turn"] for t in turns] == [False] * 4 + [True]
    for prev, cur in zip(turns, turns[1:]):
        assert cur["cached_tokens"] >= 0.9 * prev["prompt_tokens"], turns
    server.wait_metric("sglang_continuum_locks_consumed_total", used0 + 4)
    assert server.metric("sglang_continuum_locks_set_total") == set0 + 4
    assert server.metric("sglang_continuum_locked_tokens") == 0


def _two_turns_with_competition(server, chat, seed: int) -> tuple[int, int]:
    """(turn-1 prompt tokens, turn-2 cached tokens); the pool overflows in between."""
    # ~500 tokens: under the per-program lock cap (a quarter of the pool)
    messages = [{"role": "system", "content": f"agent {seed}: " + "run the tools. " * 60},
                {"role": "user", "content": "start"}]
    first = chat(messages)
    for i in range(3):  # 3 x 1500 tokens > the 4096-token pool
        generate(server.url, random_ids(1500, seed + i), 1)
    messages += [{"role": "assistant", "content": "ok"},
                 {"role": "user", "content": "<returncode>0</returncode>"}]
    return first[0], chat(messages)[1]


def test_session_lock_survives_competition_and_plain_client_misses(server, client):
    session = ProgramSession(client, "swe-pressure", ttl="30s")

    def with_session(messages):
        turn = session.chat(messages, max_tokens=4, temperature=0)
        return turn.prompt_tokens, turn.cached_tokens

    def plain(messages):
        r = client.chat.completions.create(model="default", messages=messages,
                                           max_tokens=4, temperature=0)
        return r.usage.prompt_tokens, r.usage.prompt_tokens_details.cached_tokens

    prompt, cached = _two_turns_with_competition(server, with_session, seed=800)
    assert cached >= 0.9 * prompt, (prompt, cached)
    prompt, cached = _two_turns_with_competition(server, plain, seed=900)
    assert cached < 0.2 * prompt, (prompt, cached)


def test_bad_hint_fails_in_the_agent_not_on_the_server(client):
    session = ProgramSession(client, "swe-bad")
    with pytest.raises(ValueError, match="tool"):
        session.chat([{"role": "user", "content": "hi"}], tool_hint="two words")
    assert session.turns == []
