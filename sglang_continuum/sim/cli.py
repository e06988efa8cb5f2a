"""``python -m sglang_continuum.sim``: simulate policies on a workload, print a table."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .policies import POLICIES
from .profiles import BUILTIN
from .report import markdown_table
from .sweep import RunSpec, sweep
from .workload import load_workload


def _floats(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers separated by commas")
    if any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: rates must be > 0 programs per second")
    return values


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m sglang_continuum.sim", description=__doc__)
    ap.add_argument("--workload", default="trace",
                    help="trace (the shared trace), swebench, bfcl, or the path of a trace "
                         "file (.jsonl[.gz], one program per line: the replay's schema)")
    ap.add_argument("--profile", default="llama3.1-8b-h100",
                    help=f"one of {', '.join(BUILTIN)} or a measured-fit .json")
    ap.add_argument("--policy", default="all",
                    help=f"'all' or comma-separated of {', '.join(POLICIES)}")
    ap.add_argument("--rate", type=_floats, default=[0.014],
                    help="program arrivals per second (Poisson); comma-separated to sweep")
    ap.add_argument("--concurrency", type=int, default=None,
                    help="closed loop: N programs at a time (the replay's --concurrency); "
                         "replaces --rate")
    ap.add_argument("--programs", type=int, default=None,
                    help="programs to run (trace: first N; synthetic: default 300)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--host-tier", action="store_true",
                    help="evicted KV stays in host memory and is reloaded, not recomputed")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--out", type=Path, default=None, help="write summaries.json here")
    args = ap.parse_args(argv)
    names = list(POLICIES) if args.policy == "all" else args.policy.split(",")
    bad = [n for n in names if n not in POLICIES]
    if bad:
        ap.error(f"--policy: unknown {', '.join(bad)}; use 'all' or {', '.join(POLICIES)}")
    if args.concurrency is not None and args.concurrency < 1:
        ap.error(f"--concurrency {args.concurrency}: expected an int >= 1")
    if args.concurrency is not None:
        args.rate = [0.0]
    try:  # read it once here so that a bad file is one clear line, not a worker traceback
        load_workload(args.workload, args.programs, args.seed)
    except ValueError as e:
        ap.error(f"--workload: {e}")
    args.policies = names
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    label = Path(args.workload).name if Path(args.workload).is_file() else ""
    specs = [RunSpec(args.workload, args.profile, pol, rate, args.seed, args.programs,
                     args.host_tier, label=label, concurrency=args.concurrency)
             for rate in args.rate for pol in args.policies]
    start = time.perf_counter()
    results = sweep(specs, jobs=args.jobs)
    wall = time.perf_counter() - start
    print(markdown_table(results))
    requests = sum(r.turns for r in results)
    sim_wall = sum(r.sim_wall_s for r in results)
    print(f"\n{len(results)} runs, {requests} simulated requests in {wall:.1f} s wall; "
          f"event loop {requests / max(sim_wall, 1e-9):,.0f} simulated requests/s")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "summaries.json").write_text(
            json.dumps([r.to_dict() for r in results], indent=1, allow_nan=True))
        print(f"wrote {args.out / 'summaries.json'}")
    return 0
