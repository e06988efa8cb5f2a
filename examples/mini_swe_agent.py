"""A mini-swe-agent-style loop on the OpenAI SDK, connected to Continuum.

    python -m sglang_continuum.launch_server --port 30000 --enable-cache-report &
    python examples/mini_swe_agent.py --url http://127.0.0.1:30000

The loop is mini-swe-agent's: the model answers with one ```bash block, the block runs
in the repository, its return code and output go back as the next user message, and
``echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT`` ends the task. The Continuum part is
one object: ``ProgramSession(client, program_id)`` whose ``.chat`` adds the program's
``extra_body={"custom_params": ...}`` (and the sglang-router header) to each call;
the final call passes ``last_turn=True``.

Honest note: the embedded tiny model has random weights, so its replies are noise
and contain no bash block. When a reply has none, ``ScriptedPolicy`` supplies the
command; it reads nothing from the model's text and decides from the *real* outputs
of the commands run so far (it reads the code, runs the test, patches the bug it
saw, reruns the test, submits). The commands really run, in a temporary repository.
With a real model the command comes from the reply and the policy is never used.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from openai import OpenAI

from sglang_continuum.connect.openai_agent import ProgramSession

SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
OUTPUT_CHARS = 600
SYSTEM = """You are a helpful assistant that can interact with a computer shell to solve
programming tasks. Your response must contain exactly ONE bash code block with ONE
command (or commands connected with && or ||), preceded by a THOUGHT section:

THOUGHT: Your reasoning and analysis here

```bash
your_command_here
```

Each command runs in a new subshell in the repository root; directory and environment
changes are not persistent. When you are done, run `echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT`
and nothing else. Recommended workflow: analyze the codebase, reproduce the issue,
edit the source code, verify the fix, submit."""
TASK = "The test in test_calc.py fails. Find the bug in calc.py and fix it."
BASH_BLOCK = re.compile(r"```bash\s*\n(.*?)\n```", re.DOTALL)


def make_repo(root: Path) -> Path:
    (root / "calc.py").write_text(
        "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n")
    (root / "test_calc.py").write_text(
        "from calc import add, mul\n\nassert mul(3, 4) == 12\n"
        "assert add(2, 3) == 5, 'add(2, 3) == %r' % add(2, 3)\nprint('all tests passed')\n")
    return root


def execute(command: str, cwd: Path) -> tuple[int, str]:
    done = subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True,
                          timeout=30)
    return done.returncode, (done.stdout + done.stderr)[-OUTPUT_CHARS:]


class ScriptedPolicy:
    """Deterministic stand-in for the model's command (see module docstring)."""

    def __init__(self) -> None:
        self.fixed = False

    def next_command(self, history: list[tuple[str, int, str]]) -> str:
        if not history:
            return "cat calc.py"
        command, code, output = history[-1]
        if command == "cat calc.py":
            return "python test_calc.py"
        if command.startswith("python") and code != 0 and not self.fixed:
            self.fixed = True
            return "sed -i 's/return a - b/return a + b/' calc.py && cat calc.py"
        if command.startswith("sed"):
            return "python test_calc.py"
        return SUBMIT


def solve(session: ProgramSession, repo: Path, max_steps: int = 8,
          max_tokens: int = 8) -> list[dict]:
    """The agent loop; returns one record per model call."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TASK}]
    policy, history, records = ScriptedPolicy(), [], []
    for step in range(max_steps):
        planned = policy.next_command(history)
        final = planned == SUBMIT or step == max_steps - 1
        turn = session.chat(messages, last_turn=final, tool_hint="bash",
                            max_tokens=max_tokens, temperature=0)
        found = BASH_BLOCK.search(turn.content)
        command = found.group(1) if found else planned
        records.append({"command": command, "prompt_tokens": turn.prompt_tokens,
                        "cached_tokens": turn.cached_tokens, "last_turn": final,
                        "from_model": bool(found)})
        messages.append({"role": "assistant",
                         "content": f"THOUGHT: {turn.content}\n\n```bash\n{command}\n```"})
        if final:
            break
        code, output = execute(command, repo)
        history.append((command, code, output))
        records[-1].update(returncode=code, output=output)
        messages.append({"role": "user", "content":
                         f"<returncode>{code}</returncode>\n<output>\n{output}</output>"})
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:30000",
                        help="an SGLang server with the overlay, or sglang-router")
    parser.add_argument("--program-id", default=None, help="default: a random id")
    parser.add_argument("--ttl", default="30s", help="lock TTL asked for each turn")
    parser.add_argument("--json", action="store_true", help="print a JSON summary only")
    args = parser.parse_args(argv)
    client = OpenAI(base_url=f"{args.url}/v1", api_key="none", max_retries=0)
    session = ProgramSession(client, **({"program_id": args.program_id}
                                        if args.program_id else {}), ttl=args.ttl)
    with tempfile.TemporaryDirectory(prefix="mini-swe-") as tmp:
        repo = make_repo(Path(tmp))
        records = solve(session, repo)
        fixed = execute("python test_calc.py", repo)[0] == 0
    if args.json:
        print(json.dumps({"program_id": session.program_id, "fixed": fixed,
                          "turns": records}))
        return 0
    for i, r in enumerate(records, 1):
        print(f"turn {i}: prompt {r['prompt_tokens']:5d}  cached {r['cached_tokens']:5d}"
              f"  $ {r['command']}")
    print(f"tests pass after the agent's edit: {fixed}")
    return 0 if fixed else 1


if __name__ == "__main__":
    sys.exit(main())
