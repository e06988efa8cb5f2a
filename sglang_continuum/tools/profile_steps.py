"""``sglang-continuum-profile-steps`` (``python -m sglang_continuum.tools.profile_steps``):
measure a running server's step times and write a simulator profile
(``sglang_continuum.sim.profiles`` JSON format).

Two measurements, both from the client, both the minimum over repeats (other load on
the machine only ever adds time):

- prefill: time to first token of n fresh tokens on top of m cached ones (m = 0: a
  fresh prompt; m > 0: the m-token prefix is sent first to cache it), NOT net of the
  fixed per-request cost: ``a`` is the measured per-request overhead (HTTP, tokenizer
  manager, scheduler hand-off, one forward pass), which the simulator pays once per
  prefill batch. Fit ``a + b*n + c*n*(2m+n) + e*m`` (non-negative least squares);
  ``e`` is the per-cached-token cost of an extend (the CPU backend gathers the prefix);
- decode: B concurrent fresh prompts of C tokens, ``ignore_eos``, S+1 output tokens;
  per request (end - first token) / S is one decode step of a batch of B. Fit
  ``step = d0 + d1*B + d2*context`` (non-negative least squares), context = the KV
  tokens the batch reads at mid-run (B * (C + S/2)).

Run it against a server with the same ``--max-total-tokens`` as the runs it models: on
the CPU attention backend a step's cost grows with the KV pool size.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from sglang_continuum.replay.client import HttpSender
from sglang_continuum.replay.prompts import Context

PREFILL_SIZES = (16, 256, 512, 1024, 2048, 3072)
EXTEND_GRID = ((16, 500), (16, 1000), (16, 2000), (16, 3000), (256, 1000), (256, 2500))
DECODE_GRID = ((1, 250), (2, 250), (4, 250), (8, 250), (1, 500), (2, 500), (4, 500),
               (8, 400), (1, 2000), (2, 2000))


def _timed(send: HttpSender, ids: list[int], out: int) -> tuple[float, float]:
    """(ttft, end) seconds of one call, from when it was sent."""
    start = time.perf_counter()
    reply = send(ids, out, None)
    return reply.ttft_s, time.perf_counter() - start


def _extend_ttft(send: HttpSender, n: int, m: int, tag: str) -> float:
    ctx = Context(tag, 0)
    if m:
        send(ctx.first(m), 1, None)  # caches the prefix
        return _timed(send, ctx.next([], m + n), 1)[0]
    return _timed(send, ctx.first(n), 1)[0]


def measure_prefill(url: str, sizes=PREFILL_SIZES, extend=EXTEND_GRID, repeats: int = 3
                    ) -> list[tuple[int, int, float]]:
    """(new tokens n, cached tokens m, seconds to first token)."""
    send = HttpSender(url, timeout=600)
    grid = [(n, 0) for n in sizes] + list(extend)
    return [(n, m, min(_extend_ttft(send, n, m, f"pf-{n}-{m}-{r}") for r in range(repeats)))
            for n, m in grid]


def fit_prefill(samples: list[tuple[int, int, float]]) -> dict[str, float]:
    """Non-negative least squares of ttft = a + b*n + c*n*(2m+n) + e*m."""
    x = np.array([[1.0, n, n * (2 * m + n), m] for n, m, _ in samples])
    y = np.array([t for _, _, t in samples])
    scale = np.where(x.max(axis=0) > 0, x.max(axis=0), 1.0)
    coef, _ = nnls(x / scale, y)
    a, b, c, e = (coef / scale).tolist()
    return {"a": a, "b": b, "c": c, "e": e}


def _decode_once(send: HttpSender, batch: int, context: int, steps: int, tag: str) -> float:
    prompts = [Context(f"dec-{tag}-{i}", 0).first(context) for i in range(batch)]
    with ThreadPoolExecutor(batch) as pool:
        times = list(pool.map(lambda ids: _timed(send, ids, steps + 1), prompts))
    return float(np.mean([(end - ttft) / steps for ttft, end in times]))


def measure_decode(url: str, grid=DECODE_GRID, steps: int = 48, repeats: int = 2
                   ) -> list[tuple[int, int, float]]:
    """(batch, context tokens read per step at mid-run, seconds per step)."""
    send = HttpSender(url, timeout=600)
    out = []
    for b, c in grid:
        best = min(_decode_once(send, b, c, steps, f"{b}-{c}-{r}") for r in range(repeats))
        out.append((b, b * (c + steps // 2), best))
    return out


def fit_decode(samples: list[tuple[int, int, float]]) -> dict[str, float]:
    """Non-negative least squares of step = d0 + d1*batch + d2*context."""
    a = np.array([[1.0, b, ctx] for b, ctx, _ in samples])
    y = np.array([s for _, _, s in samples])
    scale = a.max(axis=0)
    coef, _ = nnls(a / scale, y)
    d0, d1, d2 = (coef / scale).tolist()
    return {"d0": d0, "d1": d1, "d2": d2}


def sim_profile(prefill: list[tuple[int, int, float]], decode: list[tuple[int, int, float]],
                kv_capacity: int, chunk_size: int, max_running: int, name: str) -> dict:
    return {"name": name, "placeholder": False, "prefill": fit_prefill(prefill),
            "decode": fit_decode(decode), "kv_capacity_tokens": kv_capacity,
            "chunk_size": chunk_size, "max_running": max_running,
            "samples": {"prefill_new_cached_ttft_s": prefill,
                        "decode_batch_context_step_s": decode}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sglang-continuum-profile-steps",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:30000", help="server base URL")
    ap.add_argument("--out", type=Path, default=Path("sim-profile.json"))
    ap.add_argument("--kv-capacity", type=int, required=True,
                    help="the server's --max-total-tokens (KV pool tokens)")
    ap.add_argument("--chunk-size", type=int, default=4096,
                    help="the server's chunked_prefill_size (4096 on the CPU tiny server)")
    ap.add_argument("--max-running", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=48, help="decode steps per measurement")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--name", default="cpu_tiny")
    a = ap.parse_args(argv)
    prefill = measure_prefill(a.url, repeats=a.repeats + 1)
    decode = measure_decode(a.url, steps=a.steps, repeats=a.repeats)
    prof = sim_profile(prefill, decode, a.kv_capacity, a.chunk_size, a.max_running, a.name)
    prof["command"] = shlex.join(["python", "-m", "sglang_continuum.tools.profile_steps",
                                  *(sys.argv[1:] if argv is None else argv)])
    prof["machine"] = f"{platform.node()} {platform.processor() or platform.machine()}"
    prof["date"] = time.strftime("%Y-%m-%d %H:%M:%S")
    a.out.write_text(json.dumps(prof, indent=1))
    pf, dc = prof["prefill"], prof["decode"]
    print("prefill new  cached  ttft_s  fit_s")
    for n, m, t in prefill:
        fit = pf["a"] + pf["b"] * n + pf["c"] * n * (2 * m + n) + pf["e"] * m
        print(f"{n:11d}  {m:6d}  {t:.4f}  {fit:.4f}")
    print("decode batch  context  step_s  fit_s")
    for b, ctx, t in decode:
        fit = dc["d0"] + dc["d1"] * b + dc["d2"] * ctx
        print(f"{b:12d}  {ctx:7d}  {t:.4f}  {fit:.4f}")
    print(f"prefill {prof['prefill']}; decode {dc} -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
