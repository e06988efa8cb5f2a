"""Patch 0010 at the kernel: the extend attention of one 8-layer testbed forward, stock's
computation (a full-length query, top-left causal mask, new rows kept) vs the patched
backend (new tokens only, bottom-right mask), cold and fully cached.

    OMP_NUM_THREADS=1 python experiments/live/bench_attention.py [--sizes 2000 3000]

Times are this thread's CPU seconds (min of 3), so other load on a shared machine
inflates them little; attention only (the matmuls of the layers are not included).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

LAYERS, HEADS, KV_HEADS, HEAD = 8, 16, 4, 64


def _stock(q, k, v, prefix):
    full = torch.empty(HEADS, k.shape[1], HEAD, dtype=q.dtype)
    full[:, prefix:] = q
    out = F.scaled_dot_product_attention(full[None], k[None], v[None], is_causal=True,
                                         enable_gqa=True)[0]
    return out[:, prefix:]


def _patched(q, k, v, prefix):
    from sglang.srt.layers.attention.torch_native_backend import TorchNativeAttnBackend

    backend = TorchNativeAttnBackend.__new__(TorchNativeAttnBackend)
    n, total = q.shape[1], k.shape[1]
    out = torch.empty(n, HEADS, HEAD, dtype=q.dtype)
    return backend._run_sdpa_forward_extend(
        q.movedim(0, 1), out, k.movedim(0, 1), v.movedim(0, 1),
        torch.arange(total)[None], torch.tensor([0]), torch.tensor([total]),
        torch.tensor([prefix]), torch.tensor([n]), enable_gqa=True, causal=True)


def cpu_seconds(fn, q, k, v, prefix, repeats=3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.thread_time()
        for _ in range(LAYERS):
            fn(q, k, v, prefix)
        best = min(best, time.thread_time() - t)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 3000])
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    a = ap.parse_args(argv)
    from sglang_continuum.server import patching

    patch = next(p for p in patching.patch_files() if p.name.startswith("0010-"))
    if patching.state(patch, patching.site_root()) != "applied":
        raise SystemExit(f"{patch.name} is not applied to the installed SGLang "
                         "(bench_extend.py reverts it while it measures 'before')")
    dt = getattr(torch, a.dtype)
    print(f"torch threads {torch.get_num_threads()}, {a.dtype}, {LAYERS} layers, "
          f"{HEADS} heads / {KV_HEADS} KV heads x {HEAD}; CPU s of attention per forward")
    print("| tokens | cold | cached (1 new): stock | cached: patched | cached/cold stock "
          "| cached/cold patched |")
    print("|---|---|---|---|---|---|")
    for n in a.sizes:
        k = torch.randn(KV_HEADS, n, HEAD, dtype=dt)
        v = torch.randn(KV_HEADS, n, HEAD, dtype=dt)
        cold = cpu_seconds(_patched, torch.randn(HEADS, n, HEAD, dtype=dt), k, v, 0)
        q1 = torch.randn(HEADS, 1, HEAD, dtype=dt)
        stock = cpu_seconds(_stock, q1, k, v, n - 1)
        patched = cpu_seconds(_patched, q1, k, v, n - 1)
        print(f"| {n} | {cold:.3f} | {stock:.3f} | {patched:.4f} | {stock / cold:.2f} | "
              f"{patched / cold:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
