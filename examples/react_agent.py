"""A tool-using ReAct agent in SGLang's frontend language, connected to Continuum.

    python -m sglang_continuum.launch_server --port 30000 &   # tiny CPU model
    python examples/react_agent.py --url http://127.0.0.1:30000

The Continuum part is two lines: the backend is ``ContinuumEndpoint`` instead of
``sgl.RuntimeEndpoint``, and the run happens inside ``with agent_program(...)``;
``last_turn(s)`` marks the final call. Every turn then carries the program id, the
server locks the program's KV cache while a tool runs, and the next turn hits it.

Honest note: the embedded tiny model has random weights, so its "thoughts" are noise
and it never names a tool. The actions therefore come from ``ScriptedPolicy``, which
reads nothing from the model's text; it decides from the *real* outputs of the
previous tools (it lists the workspace, reads a file it found, counts lines, answers).
The tools really run (a shell command in a temporary workspace, a file read) and their
output is appended to the context as in any ReAct loop. With a real model you would
parse the action from ``s["thought_N"]`` instead.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sglang as sgl

from sglang_continuum.connect.frontend import (ContinuumEndpoint, agent_program, last_turn,
                                               next_tool)

TASK = "Which Python file in the workspace has the most lines, and how many?"
OBSERVATION_CHARS = 400
SYSTEM = """You answer questions about a code workspace by thinking step by step and
using tools. Each step has the form
Thought N: <your reasoning>
Action N: <tool>[<argument>]
Observation N: <what the tool returned>
Tools:
  shell[<command>]  runs a POSIX shell command in the workspace and returns its output
  read_file[<path>] returns the first lines of a file of the workspace
  finish[<answer>]  ends the task with the answer
Example:
Question: How many files mention pytest?
Thought 1: I should search the files for pytest.
Action 1: shell[grep -l pytest -r .]
Observation 1: ./tests/test_io.py
./setup.cfg
Thought 2: Two files mention it.
Action 2: finish[2]
"""


@dataclass(frozen=True)
class Action:
    tool: str
    arg: str


def shell(command: str, workdir: Path) -> str:
    done = subprocess.run(command, shell=True, cwd=workdir, capture_output=True, text=True,
                          timeout=20)
    return (done.stdout + done.stderr).strip() or f"(exit status {done.returncode})"


def read_file(path: str, workdir: Path) -> str:
    target = (workdir / path).resolve()
    if workdir.resolve() not in target.parents:
        return f"error: {path} is outside the workspace"
    return "".join(target.read_text().splitlines(keepends=True)[:12])


TOOLS = {"shell": shell, "read_file": read_file}


class ScriptedPolicy:
    """Deterministic stand-in for the model's choice of action (see module docstring)."""

    def next_action(self, observations: list[str]) -> Action:
        if not observations:
            return Action("shell", "find . -name '*.py' | sort")
        files = [line for line in observations[0].splitlines() if line.endswith(".py")]
        if len(observations) == 1:
            return Action("read_file", files[0])
        if len(observations) == 2:
            return Action("shell", "wc -l " + " ".join(shlex.quote(f) for f in files))
        counts = [line.split(maxsplit=1) for line in observations[2].splitlines()]
        lines, name = max((int(n), f) for n, f in counts if f != "total")
        return Action("finish", f"{name} has {lines} lines")


@sgl.function
def react_agent(s, task: str, workdir: str, max_steps: int = 6, thought_tokens: int = 8):
    s += SYSTEM + f"\nQuestion: {task}\n"
    policy, observations = ScriptedPolicy(), []
    for step in range(1, max_steps + 1):
        action = policy.next_action(observations)
        if action.tool == "finish" or step == max_steps:
            last_turn(s)
        else:
            next_tool(s, action.tool)  # optional: the server otherwise reads the output
        s += f"Thought {step}:" + sgl.gen(f"thought_{step}", max_tokens=thought_tokens,
                                          temperature=0)
        _ = s[f"thought_{step}"]  # wait for the model, as a real agent parsing it would
        s += f"\nAction {step}: {action.tool}[{action.arg}]\n"
        if action.tool == "finish" or step == max_steps:
            return action.arg
        observation = TOOLS[action.tool](action.arg, Path(workdir))[:OBSERVATION_CHARS]
        observations.append(observation)
        s += f"Observation {step}: {observation}\n"


def make_workspace(root: Path) -> Path:
    """A small project to explore; the largest file is src/pkg/core.py (40 lines)."""
    files = {"src/pkg/__init__.py": 3, "src/pkg/core.py": 40, "src/pkg/util.py": 17,
             "tests/test_core.py": 25, "README.md": 9}
    for name, lines in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"value_{i} = {i}  # {name}\n" for i in range(lines)))
    return root


def run(url: str, program_id: str | None = None, ttl: str | None = None,
        stock: bool = False) -> dict:
    """Run the agent once; returns the answer and what the server reported per turn."""
    with tempfile.TemporaryDirectory(prefix="react-agent-") as tmp:
        workdir = str(make_workspace(Path(tmp)))
        if stock:  # the same agent as a plain SGLang client: no program identity
            program = None
            state = react_agent.run(task=TASK, workdir=workdir,
                                    backend=sgl.RuntimeEndpoint(url))
        else:
            with agent_program(program_id) as program:
                state = react_agent.run(task=TASK, workdir=workdir,
                                        backend=ContinuumEndpoint(url, ttl=ttl))
    if state.error():
        raise state.error()
    turns, step = [], 1
    while (meta := state.get_meta_info(f"thought_{step}")) is not None:
        turns.append({key: meta[key] for key in
                      ("prompt_tokens", "cached_tokens", "completion_tokens")})
        step += 1
    if program is not None:
        for turn, sent in zip(turns, program.turns):
            turn["last_turn"] = sent.last_turn
    return {"program_id": program and program.program_id, "answer": state.ret_value,
            "turns": turns, "transcript": state.text()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:30000")
    parser.add_argument("--program-id", default=None, help="default: a random id")
    parser.add_argument("--ttl", default="30s", help="lock TTL asked for each turn")
    parser.add_argument("--stock", action="store_true", help="run without Continuum fields")
    parser.add_argument("--json", action="store_true", help="print a JSON summary only")
    args = parser.parse_args(argv)
    result = run(args.url, args.program_id, args.ttl, stock=args.stock)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "transcript"}))
        return 0
    print(result.get("transcript", ""))
    print(f"answer: {result['answer']}")
    for i, turn in enumerate(result["turns"], 1):
        print(f"turn {i}: prompt {turn['prompt_tokens']:5d}  cached {turn['cached_tokens']:5d}"
              f"  last_turn={turn.get('last_turn')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
