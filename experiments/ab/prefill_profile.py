"""Measure the server's prefill time and fit ``a + b*n + c*n^2`` (the cost model's
PrefillReload) for ``--continuum-prefill-profile``.

For each size n: time to first token of a fresh n-token prompt minus that of the same
prompt sent again (fully cached), the smallest of ``reps`` (other load on the machine
only ever adds time); the difference is what an evicted context costs to rebuild,
without the per-request overhead both pay.
"""

from __future__ import annotations

from sglang_continuum.core import PrefillModel
from sglang_continuum.replay import HttpSender
from sglang_continuum.replay.prompts import Context

SIZES = (250, 500, 1000, 2000, 3000)


def measure(url: str, sizes=SIZES, reps: int = 3, seed: int = 991) -> dict:
    send = HttpSender(url, timeout=600)
    samples = []
    for n in sizes:
        diffs = []
        for r in range(reps):
            ids = Context(f"profile-{n}-{r}", seed).first(n)
            cold = send(ids, 1, None).ttft_s
            warm = send(ids, 1, None).ttft_s
            diffs.append(max(0.0, cold - warm))
        samples.append((n, min(diffs)))
    model = PrefillModel.fit(samples)
    return {**model.to_dict(), "samples": samples,
            "method": f"min over {reps} of TTFT(fresh) - TTFT(cached), max_new_tokens=1"}
