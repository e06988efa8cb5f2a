"""OpenAI Agents SDK (`openai-agents`, unmodified) driving Continuum over the OpenAI API.

    pip install -r requirements/test-agents.txt
    python -m sglang_continuum.launch_server --port 30000 --enable-cache-report \\
        --tool-call-parser pythonic --constrained-json-disable-any-whitespace \\
        --chat-template examples/tiny_tools_template.jinja &
    python examples/openai_agents_tools.py --url http://127.0.0.1:30000

The only Continuum-specific line is the base URL. The agent sends no program id: the
server infers one program per run from the prompts (each turn's prompt continues the
last one), locks the run's KV while its tools run, and the next turn hits it. The
script prints, per model call, the prompt and cached tokens the server reported
(`usage.prompt_tokens_details.cached_tokens`, from `--enable-cache-report`).

Two real local tools run in a temporary workspace: `list_dir` and `read_file`.

Honest note: the embedded tiny model has random weights, so its text is noise. With
`tool_choice="required"` and strict tool schemas, SGLang constrains the output to a
call that matches one tool's schema (its JSON-schema grammar, xgrammar), so every turn
is a real tool call; the paths are enums so noise cannot name a missing file. The
agent keeps `tool_choice="required"` on every turn (`reset_tool_choice=False`) and
ends after `--turns` model calls. Server flags for the tiny model: `pythonic` is a
parser whose required-call path is the plain JSON-schema grammar (the tiny model has
no native tool format), and `--constrained-json-disable-any-whitespace` stops noise
from filling the JSON with whitespace. With a real model, pass its own
`--tool-call-parser` (e.g. `qwen3_coder`, `hermes`, `llama3`) and drop those two.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Literal

from agents import (Agent, ModelSettings, OpenAIChatCompletionsModel, RunConfig, Runner,
                    ToolsToFinalOutputResult, function_tool, set_tracing_disabled)
from openai import AsyncOpenAI

# Agents carry a long system prompt (instructions, conventions, tool manuals).
INSTRUCTIONS = ("You are a careful software engineering agent working in a small "
                "repository. Inspect files with the tools before answering; call exactly "
                "one tool per turn; never guess file contents. ") * 12
FILES = {"README.md": "# demo\nA tiny package.\n",
         "src/app.py": "def main():\n    return 42\n",
         "src/util.py": "def double(x):\n    return 2 * x\n"}
DIRS = Literal[".", "src"]
PATHS = Literal["README.md", "src/app.py", "src/util.py"]


def make_workspace(root: Path) -> Path:
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def make_agent(url: str, workspace: Path, turns: int) -> Agent:
    @function_tool
    def list_dir(path: DIRS) -> str:
        """List the entries of a directory of the workspace."""
        return "\n".join(sorted(p.name for p in (workspace / path).iterdir()))

    @function_tool
    def read_file(path: PATHS) -> str:
        """Read a file of the workspace."""
        return (workspace / path).read_text()

    calls = []

    def stop_after_turns(_context, results) -> ToolsToFinalOutputResult:
        calls.extend(results)
        done = len(calls) >= turns
        return ToolsToFinalOutputResult(is_final_output=done,
                                        final_output=results[-1].output if done else None)

    client = AsyncOpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
    return Agent(
        name="repo-explorer", instructions=INSTRUCTIONS,
        model=OpenAIChatCompletionsModel(model="default", openai_client=client),
        model_settings=ModelSettings(tool_choice="required", parallel_tool_calls=False,
                                     temperature=0.0, max_tokens=96),
        tools=[list_dir, read_file], reset_tool_choice=False,
        tool_use_behavior=stop_after_turns)


async def run_once(url: str, task: str, turns: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        agent = make_agent(url, make_workspace(Path(tmp)), turns)
        result = await Runner.run(agent, task, max_turns=turns + 1,
                                  run_config=RunConfig(tracing_disabled=True))
    calls = [item.raw_item for item in result.new_items if item.type == "tool_call_item"]
    outputs = [item.output for item in result.new_items if item.type == "tool_call_output_item"]
    return {
        "tool_calls": [{"name": c.name, "arguments": c.arguments} for c in calls],
        "tool_outputs": outputs,
        "turns": [{"prompt_tokens": r.usage.input_tokens,
                   "cached_tokens": r.usage.input_tokens_details.cached_tokens}
                  for r in result.raw_responses],
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
    set_tracing_disabled(True)  # no trace export: the machine may be offline
    for i in range(args.runs):
        out = asyncio.run(run_once(args.url, f"Task {i}: explain what src/app.py returns.",
                                   args.turns))
        out["turn2_hit_ratio"] = turn2_hit_ratio(out["turns"])
        if args.json:
            print(json.dumps(out))
            continue
        for n, (call, turn) in enumerate(zip(out["tool_calls"], out["turns"]), 1):
            print(f"turn {n}: {call['name']}({call['arguments']}) prompt "
                  f"{turn['prompt_tokens']} cached {turn['cached_tokens']}")
        print(f"run {i}: turn 2+ prefix-hit ratio {out['turn2_hit_ratio']:.3f}")


if __name__ == "__main__":
    main()
