"""Plain traffic beside the agents: single-turn requests without any identity.

A chatbot or batch client sharing the server with agents sends one prompt, gets one
answer, and never comes back. Its requests arrive as a Poisson process for as long as
the agents run; each has fresh ids (no prefix shared with anything), ``prompt`` tokens
and ``output`` generated tokens. What the operator cares about is their time to first
token beside the agents, compared with what a stock server gives the same load.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass

from .client import SendError, Sender
from .clock import Clock, RealClock
from .prompts import VOCAB
from .results import _mean, _q


@dataclass(frozen=True)
class PlainLoad:
    rate: float          # requests per second (Poisson)
    prompt: int = 300    # prompt tokens
    output: int = 16     # generated tokens
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.rate, (int, float)) or not math.isfinite(self.rate) \
                or self.rate <= 0:
            raise ValueError(f"PlainLoad.rate={self.rate!r}: expected requests/s > 0")
        for name in ("prompt", "output"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"PlainLoad.{name}={v!r}: expected an int >= 1")

    def describe(self) -> dict:
        return {"rate": self.rate, "prompt": self.prompt, "output": self.output}


class PlainTraffic:
    """Sends plain requests from ``start()`` until ``stop()``; ``stop()`` waits for the
    ones in flight and returns their summary."""

    def __init__(self, load: PlainLoad, send: Sender, clock: Clock | None = None,
                 vocab: tuple[int, int] = VOCAB):
        self.load = load
        self.send = send
        self.clock = clock or RealClock()
        self._rng = random.Random(f"plain:{load.seed}")
        self._vocab = vocab
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._inflight: list[threading.Thread] = []
        self.records: list[dict] = []
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._arrivals, name="plain-traffic",
                                         daemon=True)

    def start(self) -> "PlainTraffic":
        self._thread.start()
        return self

    def _arrivals(self) -> None:
        while self.clock.sleep(self._rng.expovariate(self.load.rate), self._stop):
            ids = [self._rng.randrange(*self._vocab) for _ in range(self.load.prompt)]
            t = threading.Thread(target=self._one, args=(ids,), daemon=True)
            with self._lock:
                self._inflight.append(t)
            t.start()

    def _one(self, ids: list[int]) -> None:
        start = self.clock.now()
        try:
            reply = self.send(ids, self.load.output, None)
        except SendError as e:
            with self._lock:
                self.errors.append(str(e)[:300])
            return
        end = self.clock.now()
        with self._lock:
            self.records.append({"start_s": start, "ttft_s": reply.ttft_s,
                                 "e2e_s": end - start,
                                 "cached_tokens": int(reply.meta.get("cached_tokens", 0))})

    def stop(self, timeout: float = 1800.0) -> dict:
        self._stop.set()
        self._thread.join(timeout)
        with self._lock:
            inflight = list(self._inflight)
        for t in inflight:
            t.join(timeout)
        return self.summary()

    def summary(self) -> dict:
        with self._lock:
            recs, errors = list(self.records), list(self.errors)
        ttft = [r["ttft_s"] for r in recs]
        return {**self.load.describe(), "requests": len(recs), "errors": len(errors),
                "error_samples": errors[:3], "ttft_mean_s": _mean(ttft),
                "ttft_p50_s": _q(ttft, 50), "ttft_p95_s": _q(ttft, 95),
                "ttft_p99_s": _q(ttft, 99),
                "e2e_mean_s": _mean([r["e2e_s"] for r in recs])}
