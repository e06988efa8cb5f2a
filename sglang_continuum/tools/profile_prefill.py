"""``sglang-continuum-profile`` (``python -m sglang_continuum.tools.profile_prefill``):
measure prefill time on a running server and write the fit used by the cost model's
PrefillReload term.

Sends prompts of growing length made of fresh tokens (no cache hit possible) with one
output token, keeps the fastest of a few repeats per size, subtracts the one-token
request's time (fixed overheads), and fits seconds = a + b*n + c*n^2.
Pass it to the server as ``{"prefill_profile": "FILE"}`` in ``--continuum-config``. With
``--host-reload`` (a server with a host tier) it also measures the reload time from host
memory (tools/profile_reload.py), which the cost model uses with a host tier.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import requests
from tqdm import tqdm

from sglang_continuum.core import PrefillModel

DEFAULT_SIZES = (16, 256, 512, 1024, 2048, 4096)


def _timed(url: str, ids: list[int]) -> float:
    start = time.perf_counter()
    r = requests.post(f"{url}/generate", json={
        "input_ids": ids, "sampling_params": {"max_new_tokens": 1, "ignore_eos": True}},
        timeout=600)
    r.raise_for_status()
    return time.perf_counter() - start


def measure(url: str, sizes=DEFAULT_SIZES, repeats: int = 3, vocab: int = 2000,
            seed: int = 0) -> list[tuple[int, float]]:
    rng = random.Random(seed)
    samples = []
    for n in tqdm(sizes, desc="prefill profile", unit="size"):
        best = min(_timed(url, [rng.randrange(10, vocab) for _ in range(n)])
                   for _ in range(repeats))
        samples.append((n, best))
    base = samples[0][1]
    return [(n, max(0.0, t - base)) for n, t in samples]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sglang-continuum-profile", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:30000", help="server base URL")
    ap.add_argument("--out", type=Path, default=Path("prefill-profile.json"))
    ap.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES),
                    help="prompt lengths in tokens; the first one is the overhead baseline")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--vocab", type=int, default=2000,
                    help="token ids are drawn from [10, vocab) (the tiny model has 2048)")
    ap.add_argument("--host-reload", action="store_true",
                    help="also measure the host tier's reload time (a server with "
                         "--enable-hierarchical-cache)")
    ap.add_argument("--reload-sizes", type=int, nargs="+", default=None,
                    help="prompt lengths for --host-reload (default 256 512 1024 2048)")
    a = ap.parse_args(argv)
    samples = measure(a.url, a.sizes, a.repeats, a.vocab)
    model = PrefillModel.fit(samples)
    out = {**model.to_dict(), "source": f"measured on {a.url}",
           "max_tokens": max(a.sizes), "samples": samples}
    if a.host_reload:
        from sglang_continuum.tools.profile_reload import DEFAULT_SIZES as RELOAD_SIZES
        from sglang_continuum.tools.profile_reload import measure_reload

        reload_samples = measure_reload(a.url, a.reload_sizes or RELOAD_SIZES,
                                        vocab=a.vocab)
        reload = PrefillModel.fit(reload_samples)
        out["host_reload"] = {**reload.to_dict(), "samples": reload_samples}
        for n, t in reload_samples:
            print(f"reload {n:6d} tokens: {t:.4f} s (fit {reload.seconds(n):.4f})")
    a.out.write_text(json.dumps(out, indent=2))
    print("tokens  measured_s  fit_s")
    for n, t in samples:
        print(f"{n:6d}  {t:10.4f}  {model.seconds(n):.4f}")
    print(f"fit: seconds = {model.a:.4g} + {model.b:.4g}*n + {model.c:.4g}*n^2 -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
