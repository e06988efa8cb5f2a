"""The Anthropic SDK's own tool loop (`anthropic`, unmodified) driving Continuum over
SGLang's native `/v1/messages`.

    pip install -r requirements/test-agents.txt
    python -m sglang_continuum.launch_server --port 30000 --enable-cache-report \\
        --tool-call-parser pythonic --constrained-json-disable-any-whitespace \\
        --chat-template examples/tiny_tools_template.jinja &
    python examples/anthropic_tool_runner.py --url http://127.0.0.1:30000

The only Continuum-specific line is the base URL (`Anthropic(base_url=...)`). The SDK's
`client.beta.messages.tool_runner` sends each turn, runs the `@beta_tool` functions the
model calls and sends their results back, until `--turns` model calls (`thread=False`:
the SDK resends the whole history each turn; SGLang keeps no server-side threads). The
agent sends no program id: the server infers one program per run from the prompts, locks the run's
KV while its tools run, and the next turn hits it. The script prints, per model call,
the prompt tokens (`input_tokens + cache_read_input_tokens`) and the cached ones
(`cache_read_input_tokens`, from `--enable-cache-report`).

Honest note: the embedded tiny model has random weights, so its text is noise.
`tool_choice={"type": "any"}` with strict tools makes SGLang constrain the output to a
call matching one tool's schema, so every turn is a real tool call; the paths are enums
so noise cannot name a missing file. The server flags are explained in
`examples/openai_agents_tools.py`; with a real model pass its own `--tool-call-parser`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Literal

from anthropic import Anthropic, beta_tool

# A long system prompt, as agents carry.
SYSTEM = ("You are a careful software engineering agent working in a small repository. "
          "Inspect files with the tools before answering; call exactly one tool per "
          "turn; never guess file contents. ") * 12
FILES = {"README.md": "# demo\nA tiny package.\n",
         "src/app.py": "def main():\n    return 42\n",
         "src/util.py": "def double(x):\n    return 2 * x\n"}


def make_tools(workspace: Path) -> list:
    @beta_tool(strict=True)
    def list_dir(path: Literal[".", "src"]) -> str:
        """List the entries of a directory of the workspace."""
        return "\n".join(sorted(p.name for p in (workspace / path).iterdir()))

    @beta_tool(strict=True)
    def read_file(path: Literal["README.md", "src/app.py", "src/util.py"]) -> str:
        """Read a file of the workspace."""
        return (workspace / path).read_text()

    return [list_dir, read_file]


def run_once(url: str, task: str, turns: int) -> dict:
    client = Anthropic(base_url=url, api_key="none", max_retries=0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in FILES.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        runner = client.beta.messages.tool_runner(
            model="default", max_tokens=96, system=SYSTEM, tools=make_tools(root),
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
            messages=[{"role": "user", "content": task}], max_iterations=turns,
            thread=False)  # resend the history each turn: SGLang keeps no threads
        messages = list(runner)
    calls = [{"name": b.name, "input": b.input}
             for m in messages for b in m.content if b.type == "tool_use"]
    usage = [m.usage for m in messages]
    return {
        "tool_calls": calls,
        "turns": [{"prompt_tokens": u.input_tokens + (u.cache_read_input_tokens or 0),
                   "cached_tokens": u.cache_read_input_tokens or 0} for u in usage],
    }


def turn2_hit_ratio(turns: list[dict]) -> float:
    """Cached / prompt tokens summed over turns 2+ (turn 1 is cold by construction)."""
    later = turns[1:]
    return sum(t["cached_tokens"] for t in later) / max(1, sum(t["prompt_tokens"] for t in later))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:30000")
    ap.add_argument("--turns", type=int, default=5, help="model calls per run")
    ap.add_argument("--runs", type=int, default=1, help="agent runs, one after another")
    ap.add_argument("--json", action="store_true", help="print one JSON line per run")
    args = ap.parse_args()
    for i in range(args.runs):
        out = run_once(args.url, f"Task {i}: explain what src/app.py returns.", args.turns)
        out["turn2_hit_ratio"] = turn2_hit_ratio(out["turns"])
        if args.json:
            print(json.dumps(out))
            continue
        for n, (call, turn) in enumerate(zip(out["tool_calls"], out["turns"]), 1):
            print(f"turn {n}: {call['name']}({json.dumps(call['input'])}) prompt "
                  f"{turn['prompt_tokens']} cached {turn['cached_tokens']}")
        print(f"run {i}: turn 2+ prefix-hit ratio {out['turn2_hit_ratio']:.3f}")


if __name__ == "__main__":
    main()
