"""The category registry and reproducible drawing of cases.

``draw_cases(n, seed, limits)`` gives the same list for the same arguments (and the same
Hypothesis version): each category's strategy runs under ``@given`` with ``@seed`` and no
example database, and the examples it generates are collected, not executed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hyp_seed

from sglang_continuum.fuzz import bodies, structure
from sglang_continuum.fuzz.values import Limits

CATEGORIES = {
    "baseline": bodies.baseline,
    "wrong_types": bodies.wrong_types,
    "empty": bodies.empty,
    "huge": bodies.huge,
    "max_new_tokens": bodies.max_new_tokens,
    "n": bodies.n_sampling,
    "logprobs": bodies.logprobs,
    "stop": bodies.stop,
    "sampling": bodies.sampling,
    "unicode": bodies.unicode,
    "nesting": structure.nesting,
    "unknown_fields": structure.unknown_fields,
    "token_ids": structure.token_ids,
    "custom_params": structure.custom_params,
    "chat": structure.chat,
    "batch": structure.batch,
}
# Relative share of the cases; huge bodies are slow to build and send, so fewer.
WEIGHTS = {"huge": 0.5, "nesting": 0.6, "baseline": 0.8}


@dataclass(frozen=True)
class Case:
    index: int
    category: str
    route: str
    body: object
    headers: dict


def split(n: int, categories: list[str]) -> dict[str, int]:
    """Cases per category: proportional to WEIGHTS, at least one each, summing to n."""
    w = {c: WEIGHTS.get(c, 1.0) for c in categories}
    total = sum(w.values())
    counts = {c: max(1, int(n * w[c] / total)) for c in categories}
    order = sorted(categories, key=lambda c: -w[c])
    i = 0
    while sum(counts.values()) < n:
        counts[order[i % len(order)]] += 1
        i += 1
    while sum(counts.values()) > n and any(v > 1 for v in counts.values()):
        c = max(counts, key=counts.get)
        counts[c] -= 1
    return counts


def examples(strategy, n: int, seed: int) -> list:
    """n examples of a strategy, reproducible by seed (re-seeded if it runs dry)."""
    out: list = []
    attempt = 0
    while len(out) < n and attempt < 5:
        @hyp_seed(seed * 7919 + attempt)
        @settings(max_examples=n - len(out), database=None, deadline=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(strategy)
        def collect(x):
            out.append(x)

        collect()
        attempt += 1
    while out and len(out) < n:  # a tiny strategy: repeat what it has
        out.append(out[len(out) % max(1, len(out))])
    return out[:n]


def draw_cases(n: int, seed: int, limits: Limits,
               categories: list[str] | None = None) -> list[Case]:
    """n cases over the categories, shuffled (by seed) so categories interleave."""
    categories = categories or list(CATEGORIES)
    unknown = set(categories) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"unknown categories {sorted(unknown)}; known: {sorted(CATEGORIES)}")
    drawn = []
    for k, (cat, count) in enumerate(split(n, categories).items()):
        for route, body, headers in examples(CATEGORIES[cat](limits), count, seed + 1000 * k):
            drawn.append((cat, route, body, headers))
    random.Random(seed).shuffle(drawn)
    return [Case(i, *d) for i, d in enumerate(drawn)]
