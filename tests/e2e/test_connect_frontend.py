"""End to end: a frontend-language ReAct agent (examples/react_agent.py) against
a real overlay server. Its turns must hit the cache across real tool calls, even when
other traffic overflows the KV pool while a tool runs; the same agent without program
identity (stock SGLang client) must miss."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sglang_continuum.launcher.client import generate, random_ids

pytestmark = pytest.mark.server

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "react_agent.py"
POOL = 4096
COMPETITORS = 3  # 3 x 1500 tokens overflow the 4096-token pool: unlocked KV is evicted


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(["--max-total-tokens", str(POOL)], name="connect-frontend")


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("react_agent_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _assert_hits(turns, share=0.9):
    for prev, cur in zip(turns, turns[1:]):
        context = prev["prompt_tokens"] + prev["completion_tokens"]
        assert cur["cached_tokens"] >= share * context, turns


def test_example_cli_runs_tools_and_reuses_its_cache(server):
    set0 = server.metric("sglang_continuum_locks_set_total")
    used0 = server.metric("sglang_continuum_locks_consumed_total")
    out = subprocess.run([sys.executable, str(EXAMPLE), "--url", server.url, "--json",
                          "--program-id", "react-cli", "--ttl", "30s"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # The answer is derived from real tool output (find, then wc -l).
    assert result["answer"] == "./src/pkg/core.py has 40 lines"
    turns = result["turns"]
    assert [t["last_turn"] for t in turns] == [False, False, False, True]
    _assert_hits(turns)
    server.wait_metric("sglang_continuum_locks_consumed_total", used0 + 3)
    assert server.metric("sglang_continuum_locks_set_total") == set0 + 3
    assert server.metric("sglang_continuum_locked_tokens") == 0  # last turn released


@pytest.mark.parametrize("stock", [False, True], ids=["continuum", "stock-client"])
def test_context_survives_competition_during_a_tool_call(server, example, monkeypatch,
                                                         stock):
    """While the first tool runs, other requests fill the pool (the paper's scenario)."""
    real_shell, rounds = example.TOOLS["shell"], []

    def shell_under_competition(command, workdir):
        if not rounds:
            seed = 7000 + 10 * stock
            for i in range(COMPETITORS):
                generate(server.url, random_ids(1500, seed + i), 1)
            rounds.append(command)
        return real_shell(command, workdir)

    monkeypatch.setitem(example.TOOLS, "shell", shell_under_competition)
    result = example.run(server.url, program_id=f"react-{stock}", ttl="30s", stock=stock)
    assert rounds, "the agent never called the shell tool"
    turns = result["turns"]
    context = turns[0]["prompt_tokens"] + turns[0]["completion_tokens"]
    if stock:
        assert turns[1]["cached_tokens"] < 0.2 * context, turns
    else:
        _assert_hits(turns)
