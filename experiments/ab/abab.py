"""Noise check for the A/B matrix: two arms on two fresh servers started side by side,
runs of ONE workload x load alternated A B A B ..., so slow drifts of the shared
machine's load hit both arms alike. Reports each run's JCT, the server's own CPU
seconds and the load average, and the per-pair ratios.

    .venv/bin/python experiments/ab/abab.py --workload trace --load contended --reps 3
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu import group_cpu_seconds, load_average  # noqa: E402
from matrix import ARMS, BASELINE, LOADS, METHOD, OVERLAY_COMMON, WORKLOADS  # noqa: E402
from run_matrix import machine, renamed  # noqa: E402

from sglang_continuum.replay import Concurrency, replay  # noqa: E402
from sglang_continuum.replay.report import write_json  # noqa: E402
from sglang_continuum.testing.server import launch  # noqa: E402
from sglang_continuum.workload import load  # noqa: E402

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arms", default=f"{BASELINE},{METHOD}")
    ap.add_argument("--workload", default="trace", choices=[w.name for w in WORKLOADS])
    ap.add_argument("--load", default="contended", choices=[ld.name for ld in LOADS])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--pool", type=int, default=6000)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--profile", type=Path, default=HERE / "results" / "prefill_profile.json")
    args = ap.parse_args(argv)
    arms = [next(a for a in ARMS if a.name == n) for n in args.arms.split(",")]
    wl = next(w for w in WORKLOADS if w.name == args.workload)
    ld = next(x for x in LOADS if x.name == args.load)
    base = load(wl.source, 0, dataclasses.replace(wl.scaling, programs=ld.programs))
    cmd = shlex.join(["python", *sys.argv])
    print(cmd, flush=True)
    runs, t0 = [], time.monotonic()
    with contextlib.ExitStack() as stack:
        servers = {}
        for arm in arms:
            flags = ["--max-total-tokens", str(args.pool), "--random-seed", "0", *arm.flags]
            if arm.overlay:
                flags += [*OVERLAY_COMMON, "--continuum-prefill-profile", str(args.profile)]
            servers[arm.name] = stack.enter_context(
                launch(flags, args.out / "logs", overlay=arm.overlay, name=f"abab-{arm.name}",
                       timeout=600))
        print(f"[{time.monotonic() - t0:5.0f}s] servers up", flush=True)
        for rep in range(args.reps):
            for arm in arms if rep % 2 == 0 else arms[::-1]:
                srv = servers[arm.name]
                requests.post(f"{srv.url}/flush_cache", timeout=60)
                cpu0, load0, start = group_cpu_seconds(srv.proc.pid), load_average(), \
                    time.monotonic()
                out = replay(srv.url, renamed(base, f"abab-{arm.name}-{rep}"),
                             Concurrency(ld.concurrency), seed=100, progress=False,
                             label=f"abab-{arm.name}-{rep}")
                s = out["summary"]
                runs.append({"arm": arm.name, "rep": rep, "wall_s": time.monotonic() - start,
                             "server_cpu_s": group_cpu_seconds(srv.proc.pid) - cpu0,
                             "load_avg_start": load0, "load_avg_end": load_average(),
                             "summary": s})
                print(f"[{time.monotonic() - t0:5.0f}s] rep {rep} {arm.name}: mean JCT "
                      f"{s['jct_mean_s']:.1f}s p99 {s['jct_p99_s']:.1f}s hit "
                      f"{s['cache_hit_ratio']:.2f} server CPU {runs[-1]['server_cpu_s']:.0f}s "
                      f"load {load0:.1f}", flush=True)
    lines = [f"# A/B noise check: {wl.name}, {ld.name} (concurrency {ld.concurrency}, "
             f"{ld.programs} programs), pool {args.pool}", "", f"Command: `{cmd}`", "",
             "| rep | arm | JCT mean s | p99 s | prog/min | hit | server CPU s | load avg |",
             "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        s = r["summary"]
        lines.append(f"| {r['rep']} | {r['arm']} | {s['jct_mean_s']:.1f} | {s['jct_p99_s']:.1f}"
                     f" | {s['programs_per_min']:.2f} | {s['cache_hit_ratio']:.2f} | "
                     f"{r['server_cpu_s']:.0f} | {r['load_avg_start']:.1f} |")
    a, b = arms[0].name, arms[-1].name
    ratios = [next(x for x in runs if x["rep"] == k and x["arm"] == b)["summary"]["jct_mean_s"]
              / next(x for x in runs if x["rep"] == k and x["arm"] == a)["summary"]["jct_mean_s"]
              for k in range(args.reps)]
    lines += ["", f"Mean JCT {b}/{a} per rep: " + ", ".join(f"{x:.2f}" for x in ratios)
              + f" (median {statistics.median(ratios):.2f})", ""]
    text = "\n".join(lines)
    (args.out / f"abab_{wl.name}_{ld.name}.md").write_text(text + "\n")
    write_json(args.out / f"abab_{wl.name}_{ld.name}.json",
               {"command": cmd, "machine": machine(), "runs": runs, "ratios": ratios,
                "prefill_profile": json.loads(args.profile.read_text())})
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
