"""Cold vs fully-cached prefill on the testbed preset, before and after patch 0010.

    python experiments/live/bench_extend.py [--sizes 2000 3000] [--repeats 3]

Starts one stock server (``--continuum-disable``) on ``--model-preset testbed-100m``
with patch 0010 reverted in the installed SGLang ("before"), then one with it applied
("after"), and times, per size, a fresh prompt (cold) and the same prompt again (all
but its last token cached), one output token, median of the repeats. The patch is
re-applied at the end whatever happens. Writes bench_extend.{json,md} here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sglang_continuum.replay.client import HttpSender
from sglang_continuum.replay.prompts import Context
from sglang_continuum.server import patching
from sglang_continuum.launcher.server import launch

HERE = Path(__file__).resolve().parent
PATCH = "0010-torch-native-extend-new-tokens.patch"


def _set_patch(applied: bool) -> None:
    patch = next(p for p in patching.patch_files() if p.name == PATCH)
    root = patching.site_root()
    state = patching.state(patch, root)
    if (state == "applied") != applied:
        r = patching._patch(["--forward"] if applied else ["-R"], patch, root)
        if r.returncode != 0:
            raise SystemExit(f"could not {'apply' if applied else 'revert'} {PATCH}: {r.stdout}")


def _ttft(send: HttpSender, ids: list[int]) -> tuple[float, int]:
    reply = send(ids, 1, None)
    return reply.ttft_s, int(reply.meta.get("cached_tokens", -1))


def measure(url: str, sizes: list[int], repeats: int, tag: str) -> dict:
    send = HttpSender(url, timeout=600)
    send(Context(f"warm-{tag}", 0).first(64), 1, None)
    out = {}
    for n in sizes:
        cold, cached, hits = [], [], []
        for r in range(repeats):
            ids = Context(f"{tag}-{n}-{r}", 0).first(n)
            cold.append(_ttft(send, ids)[0])
            t, hit = _ttft(send, ids)
            cached.append(t)
            hits.append(hit)
        out[n] = {"cold_s": cold, "cached_s": cached, "cached_tokens": hits,
                  "cold_median_s": statistics.median(cold),
                  "cached_median_s": statistics.median(cached)}
        out[n]["cached_over_cold"] = out[n]["cached_median_s"] / out[n]["cold_median_s"]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 3000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--preset", default="testbed-100m")
    ap.add_argument("--out", type=Path, default=HERE)
    a = ap.parse_args(argv)
    results = {"command": "python experiments/live/bench_extend.py " + " ".join(sys.argv[1:]),
               "date": time.strftime("%Y-%m-%d %H:%M:%S"), "preset": a.preset, "runs": {}}
    try:
        for label, applied in (("before", False), ("after", True)):
            _set_patch(applied)
            load0 = os.getloadavg()
            logs = Path(tempfile.gettempdir()) / "bench-extend-logs"
            with launch(["--model-preset", a.preset], logs, overlay=False,
                        name=f"bench-{label}", timeout=900) as server:
                res = measure(server.url, a.sizes, a.repeats, label)
            results["runs"][label] = {"results": res, "loadavg_before": load0,
                                      "loadavg_after": os.getloadavg()}
    finally:
        _set_patch(True)
    rows = ["| tokens | before: cold s | cached s | cached/cold | after: cold s | cached s "
            "| cached/cold |", "|---|---|---|---|---|---|---|"]
    for n in a.sizes:
        b, f = results["runs"]["before"]["results"][n], results["runs"]["after"]["results"][n]
        rows.append(f"| {n} | {b['cold_median_s']:.3f} | {b['cached_median_s']:.3f} | "
                    f"{b['cached_over_cold']:.2f} | {f['cold_median_s']:.3f} | "
                    f"{f['cached_median_s']:.3f} | {f['cached_over_cold']:.2f} |")
    loads = {k: (v["loadavg_before"][0], v["loadavg_after"][0])
             for k, v in results["runs"].items()}
    md = "\n".join([
        "# Patch 0010: cold vs fully-cached prefill on the testbed preset", "",
        f"Command: `{results['command']}`  ", f"Date: {results['date']}  ",
        f"Load average (1 min) before/after each server: {loads} (shared 2-core machine)",
        "", "Time to first token, one output token, median of "
        f"{a.repeats} (cached: the same prompt again, all but its last token cached).", "",
        *rows, ""])
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "bench_extend.json").write_text(json.dumps(results, indent=1))
    (a.out / "bench_extend.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
