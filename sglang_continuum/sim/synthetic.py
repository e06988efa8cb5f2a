"""SWE-Bench-like and BFCL-like synthetic programs from the paper's workload table.

Published (mean, std): SWE-Bench turns 10.9 (2.1), tool 925 ms (3550), tokens per
program 70,126 (19,732); BFCL v4 turns 6.3 (2.3), tool 1923 ms (2133), tokens 93,256
(68,687). Assumptions (not published): "tokens per program" = prompt tokens summed over
the program's calls; the first prompt is ``first_prompt`` tokens and each turn appends
its output plus an exponential observation; tool times are lognormal with the published
mean and std; outputs are exponential with mean ``output_mean``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from .workload import ProgramSpec, Turn


@dataclass(frozen=True)
class Stats:
    turns_mean: float
    turns_std: float
    tool_mean_s: float
    tool_std_s: float
    tokens_mean: float
    first_prompt: int
    output_mean: float
    tools: tuple[str, ...]
    growth_mean: float | None = None  # tokens per turn; None = derived from tokens_mean

    def growth(self) -> float:
        if self.growth_mean is not None:
            return self.growth_mean
        n = self.turns_mean
        return max(self.output_mean + 1, (self.tokens_mean - n * self.first_prompt) / (n * (n - 1) / 2))


STATS = {
    "swebench": Stats(10.9, 2.1, 0.925, 3.550, 70_126, 3000, 200,
                      ("bash:ls", "bash:cat", "bash:grep", "bash:python", "bash:sed", "bash:cd")),
    "bfcl": Stats(6.3, 2.3, 1.923, 2.133, 93_256, 4000, 150, ("web_search", "fetch_url")),
}


def _lognormal(rng: random.Random, mean: float, std: float) -> float:
    sigma2 = math.log(1 + (std / mean) ** 2)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


def generate(name: str, n: int, seed: int, **overrides) -> list[ProgramSpec]:
    """``n`` programs; ``overrides`` replace :class:`Stats` fields (e.g. turns_mean)."""
    base = STATS[name]
    if overrides:
        if "turns_mean" in overrides and "growth_mean" not in overrides:
            overrides["growth_mean"] = base.growth()  # keep tokens per turn when scaling turns
        base = replace(base, **overrides)
    s = base
    rng = random.Random(f"{name}:{seed}")
    growth_obs = s.growth() - s.output_mean
    programs = []
    for i in range(n):
        turns_n = max(2, round(rng.gauss(s.turns_mean, s.turns_std)))
        prompt = s.first_prompt
        turns = []
        for k in range(turns_n):
            out = max(1, round(rng.expovariate(1 / s.output_mean)))
            last = k == turns_n - 1
            tool = None if last else rng.choice(s.tools)
            gap = 0.0 if last else _lognormal(rng, s.tool_mean_s, s.tool_std_s)
            turns.append(Turn(prompt, out, tool, gap))
            prompt += out + max(1, round(rng.expovariate(1 / growth_obs)))
        programs.append(ProgramSpec(f"{name}-{seed}-{i}", tuple(turns)))
    return programs
