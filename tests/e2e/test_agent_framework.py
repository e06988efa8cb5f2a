"""End to end: a real agent library from the package index (openai-agents, unmodified
but for the base URL) runs its tool loop against the overlay server: every turn a real
tool call (tool_choice="required", strict schemas: SGLang's grammar), real local tools,
several turns per run. The server must infer one program per run, lock its context
across each tool call and hit it on the next turn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("agents", reason="pip install -r requirements/test-agents.txt")

pytestmark = pytest.mark.server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RUNS, TURNS = 2, 4
# What each tool returns on the example's workspace: the tool really ran.
EXPECTED = {("list_dir", "."): "README.md\nsrc", ("list_dir", "src"): "app.py\nutil.py",
            ("read_file", "README.md"): "# demo\nA tiny package.\n",
            ("read_file", "src/app.py"): "def main():\n    return 42\n",
            ("read_file", "src/util.py"): "def double(x):\n    return 2 * x\n"}


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(["--enable-cache-report", "--tool-call-parser", "pythonic",
                         "--constrained-json-disable-any-whitespace",
                         "--chat-template", str(EXAMPLES / "tiny_tools_template.jinja")],
                        name="agent-framework")


def test_openai_agents_runs_are_inferred_locked_and_hit(server):
    before = {name: server.metric(f"sglang_continuum_{name}")
              for name in ("programs_inferred_total", "turns_inferred_total",
                           "locks_set_total", "locks_consumed_total")}
    out = subprocess.run([sys.executable, str(EXAMPLES / "openai_agents_tools.py"),
                          "--url", server.url, "--runs", str(RUNS), "--turns", str(TURNS),
                          "--json"], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    runs = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert len(runs) == RUNS
    for run in runs:
        # The framework called a tool on every turn and ran it for real.
        assert len(run["tool_calls"]) == len(run["turns"]) == TURNS, run
        for call, output in zip(run["tool_calls"], run["tool_outputs"], strict=True):
            path = json.loads(call["arguments"])["path"]
            assert output == EXPECTED[call["name"], path], (call, output)
        # Each later turn found the whole previous prompt in the cache.
        for prev, cur in zip(run["turns"], run["turns"][1:]):
            assert cur["cached_tokens"] >= prev["prompt_tokens"], run["turns"]
    later = [t for run in runs for t in run["turns"][1:]]
    ratio = sum(t["cached_tokens"] for t in later) / sum(t["prompt_tokens"] for t in later)
    assert ratio >= 0.9, ratio
    # One inferred program per run; every later turn continued it and consumed the
    # lock its previous turn (a tool call) left.
    continued = RUNS * (TURNS - 1)
    server.wait_metric("sglang_continuum_locks_consumed_total",
                       before["locks_consumed_total"] + continued)
    server.wait_metric("sglang_continuum_locks_set_total",
                       before["locks_set_total"] + RUNS * TURNS)
    assert server.metric("sglang_continuum_programs_inferred_total") \
        == before["programs_inferred_total"] + RUNS
    assert server.metric("sglang_continuum_turns_inferred_total") \
        == before["turns_inferred_total"] + continued
