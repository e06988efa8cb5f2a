"""Host tier reload time, for ``python -m sglang_continuum.tools.profile_prefill --host-reload``.

On a server with ``--enable-hierarchical-cache``: for each size, a fresh prompt is
prefilled, pushed out of the device pool by fresh filler prompts (the pool's size of
them), then sent again twice: the first repeat is served from host memory (checked in
``meta_info.cached_tokens_details``), the second from the device. The difference is the
reload (host to device copy) of those tokens; the cost model prices a lapsed lock's KV
with it when the server has a host tier (``PolicyConfig.host_reload_profile``).
"""

from __future__ import annotations

import random
import time

import requests

DEFAULT_SIZES = (256, 512, 1024, 2048)


def _post(url: str, ids: list[int]) -> tuple[float, dict]:
    start = time.perf_counter()
    r = requests.post(f"{url}/generate", json={
        "input_ids": ids, "sampling_params": {"max_new_tokens": 1, "ignore_eos": True}},
        timeout=600)
    r.raise_for_status()
    return time.perf_counter() - start, r.json()["meta_info"]


def pool_tokens(url: str) -> int:
    info = requests.get(f"{url}/server_info", timeout=30).json()
    return int(info.get("max_total_num_tokens") or info["max_total_tokens"])


def measure_reload(url: str, sizes=DEFAULT_SIZES, repeats: int = 2, vocab: int = 2000,
                   seed: int = 1) -> list[tuple[int, float]]:
    """(tokens, reload seconds) per size: the fastest host hit minus the fastest device
    hit of the same prompt, over `repeats` rounds."""
    rng = random.Random(seed)
    fresh = lambda n: [rng.randrange(10, vocab) for _ in range(n)]  # noqa: E731
    pool = pool_tokens(url)
    filler = max(1, min(pool // 2, 4096))
    samples = []
    for n in sizes:
        if n + filler > pool:
            raise ValueError(f"--sizes: {n} tokens leave no room to evict in a "
                             f"{pool}-token pool; use sizes below {pool - filler}")
        host_s, device_s = [], []
        for _ in range(repeats):
            prompt = fresh(n)
            _post(url, prompt)
            for _ in range(pool // filler + 1):
                _post(url, fresh(filler))
            seconds, meta = _post(url, prompt)
            host = (meta.get("cached_tokens_details") or {}).get("host", 0)
            if host < 0.9 * n:
                raise RuntimeError(
                    f"{n}-token prompt: {host} tokens came from host memory after "
                    "eviction; is the server running with --enable-hierarchical-cache?")
            host_s.append(seconds)
            device_s.append(_post(url, prompt)[0])
        samples.append((n, max(0.0, min(host_s) - min(device_s))))
    return samples
