"""Execution-time prediction (Vidur style): the engine asks how long a batch takes.

The predictor is behind :class:`Predictor`, apart from scheduling, so a measured fit, a
roofline estimate or a lookup table can be dropped in without touching the engine.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BatchShape:
    """What a batch costs depends on, aggregated over its requests.

    ``prefill_tokens``: new tokens computed (all chunks of the batch);
    ``prefill_attention``: sum over chunks of ``n * (2m + n)`` for ``n`` new tokens on
    top of ``m`` tokens already in KV (the causal-attention term; ``n^2`` when ``m=0``);
    ``decode_requests`` / ``decode_context``: requests decoding one token and the
    tokens of KV they read; ``reload_tokens``: tokens copied back from the host tier;
    ``prefill_prefix``: sum over chunks of ``m``, the cached tokens each chunk reads;
    ``write_tokens``: tokens the step must copy to the host tier before it can reuse
    their device slots (a write-back eviction), over the same link as reloads.
    """

    prefill_tokens: int = 0
    prefill_attention: float = 0.0
    decode_requests: int = 0
    decode_context: int = 0
    reload_tokens: int = 0
    prefill_prefix: int = 0
    write_tokens: int = 0


class Predictor(Protocol):
    def batch_seconds(self, shape: BatchShape) -> float:
        """Seconds one engine step with this shape takes (> 0 for a non-empty batch)."""

    def decode_steps_within(self, requests: int, context: int, horizon_s: float,
                            max_steps: int) -> tuple[int, float]:
        """How many consecutive pure-decode steps (1 <= steps <= max_steps) end by
        ``horizon_s`` (at least one), and their total seconds. Context grows by
        ``requests`` tokens per step."""


@dataclass(frozen=True, slots=True)
class StepCoefficients:
    """prefill s = a + b*n + c*n*(2m+n) + e*m (= a + b*n + c*n^2 from scratch);
    decode step s = d0 + d1*batch + d2*context_tokens; reload s = tokens / reload_bw.

    ``e`` (default 0) is a cost per cached prefix token a prefill chunk reads, linear
    in ``m`` whatever ``n`` is: measured on the CPU torch_native backend, whose extend
    gathers the whole prefix's KV per request (0 for the GPU rooflines).

    A mixed or multi-request prefill pays ``a`` once; a pure decode step pays ``d0``.
    """

    a: float
    b: float
    c: float
    d0: float
    d1: float
    d2: float
    reload_tokens_per_s: float = math.inf
    e: float = 0.0

    def __post_init__(self):
        for name, v in asdict(self).items():
            if not isinstance(v, (int, float)) or math.isnan(v) or v < 0:
                raise ValueError(f"StepCoefficients.{name}={v!r}: must be a number >= 0")
        if self.reload_tokens_per_s <= 0:
            raise ValueError("StepCoefficients.reload_tokens_per_s must be > 0")


class LinearPredictor:
    """:class:`Predictor` from :class:`StepCoefficients` (measured fit or roofline)."""

    def __init__(self, coefficients: StepCoefficients):
        self.k = coefficients

    def batch_seconds(self, shape: BatchShape) -> float:
        k = self.k
        t = shape.write_tokens / k.reload_tokens_per_s
        if shape.prefill_tokens or shape.reload_tokens:
            t += k.a + k.b * shape.prefill_tokens + k.c * shape.prefill_attention
            t += k.e * shape.prefill_prefix
            t += shape.reload_tokens / k.reload_tokens_per_s
        if shape.decode_requests:
            fixed = 0.0 if shape.prefill_tokens or shape.reload_tokens else k.d0
            t += fixed + k.d1 * shape.decode_requests + k.d2 * shape.decode_context
        return t

    def decode_steps_within(self, requests, context, horizon_s, max_steps):
        k = self.k
        # step j (0-based) costs beta0 + d2*requests*j: an arithmetic series.
        beta0 = k.d0 + k.d1 * requests + k.d2 * context
        alpha = k.d2 * requests / 2.0
        beta = beta0 - alpha
        if math.isinf(horizon_s):
            steps = max_steps
        elif horizon_s <= beta0:
            steps = 1
        elif alpha > 0:
            steps = int((-beta + math.sqrt(beta * beta + 4 * alpha * horizon_s)) / (2 * alpha))
        else:
            steps = int(horizon_s / beta0) if beta0 > 0 else max_steps
        steps = max(1, min(steps, max_steps))
        return steps, steps * beta0 + alpha * steps * (steps - 1)
