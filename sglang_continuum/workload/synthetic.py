"""Seeded synthetic programs matching the paper's workload table (arXiv 2511.02230).

Published (mean, std): SWE-Bench (mini-swe-agent) 10.9 (2.1) turns, tool time 925 ms
(3550), 70,126 (19,732) tokens per program; BFCL v4 web search 6.3 (2.3) turns,
1923 ms (2133), 93,256 (68,687) tokens.

Assumptions (the paper does not say): "tokens per program" is the prompt tokens summed
over the program's calls (what a provider bills); turns are a rounded normal (>= 1, resampled);
tool times and the token total are lognormal with the published mean and std (heavy
tail); the context grows from ``first_share`` of the mean prompt by random
(exponential-weight) increments scaled so the prompts sum exactly to the drawn total;
outputs are exponential with mean ``output_mean``, at most the next increment.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .program import Program, Turn


@dataclass(frozen=True)
class SyntheticSpec:
    turns_mean: float
    turns_std: float
    tool_mean_s: float
    tool_std_s: float
    tokens_mean: float
    tokens_std: float
    output_mean: float = 200.0
    first_share: float = 0.5  # first prompt / mean prompt of the program
    tools: tuple[str, ...] = ("bash",)

    def __post_init__(self):
        for name in ("turns_mean", "tool_mean_s", "tokens_mean", "output_mean"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SyntheticSpec.{name}={getattr(self, name)!r}: expected > 0")
        for name in ("turns_std", "tool_std_s", "tokens_std"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"SyntheticSpec.{name}={getattr(self, name)!r}: expected >= 0")
        if not 0 < self.first_share <= 1:
            raise ValueError(f"SyntheticSpec.first_share={self.first_share!r}: expected (0, 1]")
        if not self.tools:
            raise ValueError("SyntheticSpec.tools: expected at least one tool name")


PRESETS: dict[str, SyntheticSpec] = {
    "swebench": SyntheticSpec(10.9, 2.1, 0.925, 3.550, 70_126, 19_732, output_mean=250,
                              tools=("ls", "cat", "grep", "python", "sed", "cd", "find")),
    "bfcl": SyntheticSpec(6.3, 2.3, 1.923, 2.133, 93_256, 68_687, output_mean=150,
                          tools=("web_search", "fetch_url")),
}


def lognormal(rng: random.Random, mean: float, std: float) -> float:
    """A lognormal draw with the given mean and std (std 0: the mean)."""
    if std == 0:
        return mean
    sigma2 = math.log1p((std / mean) ** 2)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


def _turn_count(rng: random.Random, spec: SyntheticSpec) -> int:
    while True:  # resample (not clip) so short programs do not pile up at 1
        n = round(rng.gauss(spec.turns_mean, spec.turns_std))
        if n >= 1:
            return n


def _program(rng: random.Random, spec: SyntheticSpec, program_id: str) -> Program:
    n = _turn_count(rng, spec)
    total = lognormal(rng, spec.tokens_mean, spec.tokens_std)
    p0 = max(1, round((spec.first_share if n > 1 else 1.0) * total / n))
    weights = [rng.expovariate(1.0) for _ in range(n - 1)]  # increment before turn k+1
    denom = sum(w * (n - 1 - k) for k, w in enumerate(weights)) or 1.0
    scale = max(0.0, total - n * p0) / denom
    prompts, p = [p0], p0
    for w in weights:
        p += max(2, round(scale * w))
        prompts.append(p)
    turns = []
    for k in range(n):
        room = prompts[k + 1] - prompts[k] if k + 1 < n else None
        out = max(1, round(rng.expovariate(1.0 / spec.output_mean)))
        if room is not None:
            out = min(out, room - 1)
        last = k == n - 1
        gap = 0.0 if last else lognormal(rng, spec.tool_mean_s, spec.tool_std_s)
        tools = () if last else (rng.choice(spec.tools),)
        turns.append(Turn(prompts[k], max(1, out), tools, gap))
    return Program(program_id, tuple(turns))


def generate(spec: SyntheticSpec | str, n: int, seed: int, prefix: str | None = None
             ) -> list[Program]:
    """``n`` programs from a spec or preset name; the same (spec, n, seed) -> same programs.

    Program ids are ``{prefix}-{seed}-{i}`` (prefix defaults to the preset name or
    ``synthetic``). Program ``i`` depends only on (spec, seed, i), not on ``n``.
    """
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(f"unknown synthetic workload {spec!r}: use {', '.join(PRESETS)}")
        prefix = prefix or spec
        spec = PRESETS[spec]
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n={n!r}: expected an int >= 0")
    prefix = prefix or "synthetic"
    return [_program(random.Random(f"{prefix}:{seed}:{i}"), spec, f"{prefix}-{seed}-{i}")
            for i in range(n)]
