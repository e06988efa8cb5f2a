"""The cache bench's request script: the shared trace's programs, scaled, as token ids.

Every program starts with one shared system-prompt prefix; each turn's prompt extends
the previous prompt and output (tool results fill it to the trace's next length), so
the radix tree has the shape an agent server sees: one trunk, a branch per program,
each branch growing a few hundred tokens a turn.
"""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass

from sglang_continuum.workload import BUNDLED_TRACE, Scaling, load_trace

from .fakes import safe_tool

VOCAB = (10, 2000)


@dataclass(frozen=True)
class ScriptTurn:
    prompt: int          # prompt tokens (a prefix of the program's stream)
    output: int
    gap_s: float
    tool: str | None
    last: bool


@dataclass(frozen=True)
class ScriptProgram:
    program_id: str
    stream: array        # every token the program ever holds, turn i = stream[:prompt+output]
    turns: tuple[ScriptTurn, ...]


def build_script(programs: int, turns: int, token_scale: float, shared_prefix: int,
                 output_cap: int, max_gap_s: float, seed: int = 0) -> list[ScriptProgram]:
    scaling = Scaling(token_scale=token_scale, max_turns=turns, output_cap=output_cap,
                      max_gap_s=max_gap_s, programs=programs)
    source = load_trace(BUNDLED_TRACE, limit=programs)
    rng = random.Random(f"cache-script:{seed}")
    shared = array("q", (rng.randrange(*VOCAB) for _ in range(shared_prefix)))
    out = []
    for prog in scaling.apply(source):
        stream = array("q", shared)
        script = []
        for i, t in enumerate(prog.turns):
            prompt = max(t.prompt, len(stream) if i else shared_prefix + 1)
            grow = prompt + t.output - len(stream)
            stream.extend(rng.randrange(*VOCAB) for _ in range(max(0, grow)))
            script.append(ScriptTurn(prompt, t.output, t.gap_s, safe_tool(t.tool),
                                     i == len(prog.turns) - 1))
        out.append(ScriptProgram(prog.program_id, stream, tuple(script)))
    return out
