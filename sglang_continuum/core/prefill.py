"""Prefill (or reload) time model: seconds = a + b*n + c*n^2 for n context tokens."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Mapping, Sequence


@dataclass(frozen=True)
class PrefillModel:
    """Seconds to rebuild the KV cache of `n` tokens. Coefficients are non-negative."""

    a: float = 0.0
    b: float = 0.0
    c: float = 0.0

    def __post_init__(self) -> None:
        for name in ("a", "b", "c"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"PrefillModel.{name}: expected a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"PrefillModel.{name}: expected a finite number >= 0, got {value!r}"
                )

    def seconds(self, tokens: int) -> float:
        n = max(0, tokens)
        return self.a + self.b * n + self.c * n * n

    def to_dict(self) -> dict[str, float]:
        return {"a": self.a, "b": self.b, "c": self.c}

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> PrefillModel:
        unknown = set(data) - {"a", "b", "c"}
        if unknown:
            raise ValueError(
                f"PrefillModel: unknown keys {sorted(unknown)}; accepted keys are a, b, c"
            )
        return cls(**{k: float(v) for k, v in data.items()})

    @classmethod
    def fit(cls, samples: Sequence[tuple[int, float]]) -> PrefillModel:
        """Non-negative least squares fit of (tokens, seconds) samples.

        Three unknowns, so the exact NNLS optimum is found by solving the unconstrained
        problem on every subset of coefficients and keeping the best feasible one.
        """
        points = [(float(n), float(s)) for n, s in samples]
        if not points:
            raise ValueError("PrefillModel.fit: expected at least one (tokens, seconds) sample")
        if any(n < 0 or not math.isfinite(n) or not math.isfinite(s) for n, s in points):
            raise ValueError("PrefillModel.fit: samples must be finite, with tokens >= 0")
        # Columns are scaled to [0, 1] so that n^2 does not ruin the normal equations.
        scale = max(n for n, _ in points) or 1.0
        rows = [(1.0, n / scale, (n / scale) ** 2) for n, _ in points]
        ys = [s for _, s in points]
        best, best_sse = (0.0, 0.0, 0.0), sum(y * y for y in ys)
        for size in (1, 2, 3):
            for cols in itertools.combinations(range(3), size):
                coef = _least_squares([[r[j] for j in cols] for r in rows], ys)
                if coef is None or any(x < 0 for x in coef):
                    continue
                full = [0.0, 0.0, 0.0]
                for j, x in zip(cols, coef):
                    full[j] = x
                sse = sum((y - sum(f * r for f, r in zip(full, row))) ** 2
                          for row, y in zip(rows, ys))
                if sse < best_sse - 1e-15 * (1.0 + best_sse):
                    best, best_sse = tuple(full), sse
        return cls(best[0], best[1] / scale, best[2] / (scale * scale))


def _least_squares(rows: list[list[float]], ys: list[float]) -> list[float] | None:
    """Solve the normal equations by Gaussian elimination; None when singular."""
    k = len(rows[0])
    m = [[sum(r[i] * r[j] for r in rows) for j in range(k)]
         + [sum(r[i] * y for r, y in zip(rows, ys))] for i in range(k)]
    for col in range(k):
        pivot = max(range(col, k), key=lambda i: abs(m[i][col]))
        if abs(m[pivot][col]) < 1e-12:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        for i in range(k):
            if i != col:
                f = m[i][col] / m[col][col]
                m[i] = [a - f * b for a, b in zip(m[i], m[col])]
    return [m[i][k] / m[i][i] for i in range(k)]
