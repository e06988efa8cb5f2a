"""Part 3: the CPU server end to end, overlay enabled with NO program ids vs disabled.

Per repeat, one fresh server per arm with the same flags, both started before either
is measured, a short warm-up, then fixed batches alternating between the arms (ABBA):
`requests` distinct prompts sent at once over `concurrency` connections, streamed,
`max_new_tokens` each with ignore_eos. Reported per arm: decode throughput (output
tokens / batch wall time) and mean TTFT (first streamed chunk). ``--enable-metrics`` is passed to both arms: the overlay's launcher
turns it on by default, and SGLang's own metrics are not the overlay's cost.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from sglang_continuum.connect.sse import sse_chunks

from .stats import ratios, spread

ARMS = ("stock", "overlay")


@dataclass(frozen=True)
class E2ESpec:
    repeats: int = 3
    requests: int = 32
    concurrency: int = 16
    prompt_tokens: int = 256
    max_new_tokens: int = 128
    max_total_tokens: int = 16_384
    warmup_requests: int = 4
    batches: int = 3             # per arm and repeat
    # torch's OpenMP pool spin-waits; with other tenants on 2 cores a 2-thread server
    # swung 20x between batches. One thread per server (both arms) keeps it steady.
    server_threads: int = 1
    server_timeout_s: float = 300.0
    seed: int = 0

    def __post_init__(self):
        for name in ("repeats", "requests", "concurrency", "prompt_tokens", "max_new_tokens",
                     "batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"E2ESpec.{name}: expected an int >= 1")

    def server_args(self) -> list[str]:
        return ["--max-total-tokens", str(self.max_total_tokens), "--random-seed", "0",
                "--enable-metrics", "--continuum-status-interval", "0"]


def _prompt(seed: int, n: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(10, 2000) for _ in range(n)]


def _stream_one(url: str, ids: list[int], max_new: int) -> dict:
    """One streamed /generate with no overlay fields: (ttft_s, total_s, tokens)."""
    body = {"input_ids": ids, "stream": True,
            "sampling_params": {"max_new_tokens": max_new, "ignore_eos": True,
                                "temperature": 0.0}}
    t0 = time.perf_counter()
    ttft, tokens = None, 0
    with requests.post(f"{url}/generate", json=body, stream=True, timeout=600) as r:
        r.raise_for_status()
        for chunk in sse_chunks(r.iter_lines()):
            if ttft is None:
                ttft = time.perf_counter() - t0
            tokens = chunk.get("meta_info", {}).get("completion_tokens", tokens)
    return {"ttft_s": ttft if ttft is not None else time.perf_counter() - t0,
            "total_s": time.perf_counter() - t0, "tokens": tokens}


def _batch(url: str, spec: E2ESpec, salt: int) -> dict:
    prompts = [_prompt(spec.seed * 1_000_003 + salt * 10_007 + i, spec.prompt_tokens)
               for i in range(spec.requests)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(spec.concurrency) as pool:
        results = list(pool.map(lambda ids: _stream_one(url, ids, spec.max_new_tokens),
                                prompts))
    wall = time.perf_counter() - t0
    tokens = sum(r["tokens"] for r in results)
    return {"wall_s": wall, "output_tokens": tokens, "throughput_tok_s": tokens / wall,
            "mean_ttft_s": statistics.fmean(r["ttft_s"] for r in results),
            "p50_ttft_s": statistics.median(r["ttft_s"] for r in results)}


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def run(spec: E2ESpec, log_dir: Path, log=print) -> dict:
    """Per repeat: a fresh server per arm, both up at once (idle servers sleep), then
    `batches` batches per arm in ABBA order, so load from other tenants, which on a
    shared 2-core machine swings throughput tenfold within minutes, falls on both arms.
    A repeat's ratio compares the arms' pooled batches."""
    from contextlib import ExitStack

    from sglang_continuum.launcher.server import launch

    out: dict = {"spec": asdict(spec), "server_args": spec.server_args(), "runs": [],
                 "repeats": []}
    per = {a: [] for a in ARMS}
    for rep in range(spec.repeats):
        with ExitStack() as stack:
            servers = {}
            for arm in ARMS:
                servers[arm] = stack.enter_context(launch(
                    spec.server_args(), log_dir, overlay=(arm == "overlay"),
                    timeout=spec.server_timeout_s, name=f"e2e-{arm}-r{rep}",
                    env={"OMP_NUM_THREADS": str(spec.server_threads)}))
            for arm, server in servers.items():
                active = "overlay active" in server.log()
                if (arm == "overlay") != active:
                    raise RuntimeError(f"{arm} arm: overlay active={active} (see {log_dir})")
                for i in range(spec.warmup_requests):
                    # Seeds no batch uses (random.Random(-n) == Random(n)).
                    _stream_one(server.url, _prompt(10**9 + i, spec.prompt_tokens), 8)
            first = ARMS if rep % 2 == 0 else ARMS[::-1]
            order = [first[0], first[1], first[1], first[0]] * spec.batches
            batches = {a: [] for a in ARMS}
            for b, arm in enumerate(order[: 2 * spec.batches]):
                load = _loadavg()
                # Batch b of each arm sends the same prompts; every repeat new ones.
                res = _batch(servers[arm].url, spec, salt=rep * 1000 + len(batches[arm]))
                res.update(arm=arm, repeat=rep, batch=b, loadavg_before=load)
                batches[arm].append(res)
                out["runs"].append(res)
                log(f"  e2e rep {rep + 1}/{spec.repeats} batch {b + 1} {arm}: "
                    f"{res['throughput_tok_s']:.1f} tok/s, mean TTFT "
                    f"{res['mean_ttft_s'] * 1e3:.0f} ms ({res['wall_s']:.1f} s; load {load})")
        for arm, rows in batches.items():
            pooled = {"throughput_tok_s": sum(r["output_tokens"] for r in rows)
                      / sum(r["wall_s"] for r in rows),
                      "mean_ttft_s": statistics.fmean(r["mean_ttft_s"] for r in rows)}
            per[arm].append(pooled)
            out["repeats"].append({"repeat": rep, "arm": arm, **pooled})
    for metric in ("throughput_tok_s", "mean_ttft_s"):
        o = [r[metric] for r in per["overlay"]]
        s = [r[metric] for r in per["stock"]]
        out[metric] = {"ratio": spread(ratios(o, s)), "overlay": spread(o), "stock": spread(s)}
    return out
