"""``python -m sglang_continuum.demo``: the method at work, in one command.

Starts stock SGLang, then the overlay, each on the testbed preset (a ~94M-parameter
dummy Llama built locally, served on the CPU), replays the same few agent programs of
the shared trace against each (real HTTP, tool gaps slept), and prints the hit ratio,
the locks the overlay set and the job completion times side by side. One server runs
at a time; each is stopped before the next starts.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from sglang_continuum.connect.metrics_text import MissingMetric
from sglang_continuum.replay import Concurrency, replay
from sglang_continuum.launcher.server import launch
from sglang_continuum.workload import Scaling, load

ARMS = (("stock SGLang (LRU)", False, []),
        ("overlay, fixed 60 s TTL", True, ["--continuum-policy", "fixed",
                                           "--continuum-fixed-ttl", "60",
                                           "--continuum-lock-budget", "1.0",
                                           "--continuum-per-program-cap", "1.0"]),
        ("overlay, default policy", True, []))


def run_arm(name, overlay, flags, args, programs, log_dir) -> dict:
    server_flags = ["--model-preset", args.preset, "--max-total-tokens", str(args.pool),
                    "--enable-metrics", *flags]
    print(f"starting {name} ...", flush=True)
    with launch(server_flags, log_dir, overlay=overlay, name=name.split()[0],
                timeout=900) as server:
        out = replay(server.url, programs, Concurrency(args.concurrency), progress=True,
                     label=name)
        try:
            locks = server.metric("sglang_continuum_locks_set_total") if overlay else None
        except MissingMetric:
            locks = None
    s = out["summary"]
    return {"arm": name, "jct_mean_s": s["jct_mean_s"], "jct_max_s": s["jct_max_s"],
            "hit": s["cache_hit_ratio"], "locks": locks, "done": s["completed"],
            "programs": s["programs"]}


def table(rows: list[dict]) -> str:
    lines = ["| server | mean JCT s | max JCT s | cache hit | locks set | programs done |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        f = (lambda v, d=1: "-" if v is None else f"{v:.{d}f}")
        lines.append(f"| {r['arm']} | {f(r['jct_mean_s'])} | {f(r['jct_max_s'])} | "
                     f"{f(r['hit'], 2)} | {f(r['locks'], 0)} | {r['done']}/{r['programs']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sglang_continuum.demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="testbed-100m")
    ap.add_argument("--programs", type=int, default=4)
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--pool", type=int, default=3000,
                    help="KV pool tokens (default: about half of what the programs hold)")
    ap.add_argument("--max-gap", type=float, default=4.0, help="cap on tool gaps (s)")
    ap.add_argument("--default-policy", action="store_true",
                    help="also run the overlay's default policy (a third server)")
    args = ap.parse_args(argv)
    scaling = Scaling(token_scale=1 / 16, max_turns=args.turns, max_gap_s=args.max_gap,
                      programs=args.programs)
    programs = load("trace", 0, scaling)
    log_dir = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "sglang-continuum-demo"
    arms = ARMS if args.default_policy else ARMS[:2]
    print(f"{args.programs} programs of the shared trace, {args.turns} turns each, tokens "
          f"x1/16, tool gaps capped at {args.max_gap:g} s, {args.concurrency} at a time, "
          f"KV pool {args.pool} tokens; server logs in {log_dir}")
    rows = [run_arm(name, overlay, flags, args, programs, log_dir)
            for name, overlay, flags in arms]
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
