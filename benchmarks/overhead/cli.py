"""Command line: run the parts, print the tables, write results.md and results.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from . import clock
from .cache_bench import CacheSpec
from .e2e_bench import E2ESpec
from .policy_bench import PolicySpec
from .report import markdown, verdicts

PARTS = ("cache", "policy", "decision", "e2e")
NOTES_MARK = "<!-- notes: kept across runs -->"


def _machine() -> dict:
    def sh(cmd: str) -> str:
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"lscpu": sh("lscpu | head -15"), "memory": sh("free -h | head -2"),
            "uptime": sh("uptime"), "python": platform.python_version(),
            "sglang": sh(f"{sys.executable} -c 'import sglang; print(sglang.__version__)'")}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.overhead",
                                description=__doc__)
    p.add_argument("--parts", default=",".join(PARTS),
                   help=f"comma-separated subset of {','.join(PARTS)} (default: all)")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes: checks that everything runs (numbers meaningless)")
    p.add_argument("--repeats", type=int, help="repeats of every part (default per part)")
    p.add_argument("--wall", action="store_true",
                   help="time in-process parts with the wall clock, not thread CPU time")
    p.add_argument("--out", type=Path, default=Path("experiments/overhead"),
                   help="folder for results.md and results.json ('-': write nothing)")
    return p.parse_args(argv)


def specs(ns: argparse.Namespace) -> tuple[CacheSpec, PolicySpec, E2ESpec]:
    cache, policy, e2e = CacheSpec(), PolicySpec(), E2ESpec()
    if ns.quick:
        cache = CacheSpec(programs=6, turns=4, pool_tokens=16_384, repeats=2)
        policy = PolicySpec(programs=(20, 40, 80), durations=500, steps=30, warmup_steps=5,
                            repeats=1)
        e2e = E2ESpec(repeats=1, requests=4, concurrency=4, max_new_tokens=8,
                      warmup_requests=1, batches=1)
    if ns.repeats:
        cache, policy, e2e = (replace(s, repeats=ns.repeats) for s in (cache, policy, e2e))
    return cache, policy, e2e


def run(ns: argparse.Namespace, log=print) -> dict:
    parts = [p.strip() for p in ns.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"--parts: unknown {sorted(unknown)}; accepted: {','.join(PARTS)}")
    clock.use_wall_clock(ns.wall)
    cache_spec, policy_spec, e2e_spec = specs(ns)
    res: dict = {"command": "python -m benchmarks.overhead "
                 + " ".join(shlex.quote(a) for a in (ns.argv or [])),
                 "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": _machine(),
                 "timer_overhead_us": clock.overhead_s() * 1e6}
    log(f"clock {clock.name()}, one reading costs {res['timer_overhead_us']:.2f} us; "
        f"load: {res['machine']['uptime']}")
    t0 = time.perf_counter()
    if "cache" in parts:
        from .cache_bench import run as run_cache

        log("part 1: radix-cache operations")
        res["cache"] = run_cache(cache_spec, log)
    if "policy" in parts:
        from .policy_bench import run as run_policy

        log("part 2: policy core per scheduler step")
        res["policy"] = run_policy(policy_spec, log)
        res["policy"]["clock"] = clock.name()
    if "decision" in parts and "policy" not in parts:
        from .policy_bench import run_decision

        log("TTL decision per finished turn (also inside part 2)")
        res["decision"] = run_decision(policy_spec, log)
    if "e2e" in parts:
        from .e2e_bench import run as run_e2e

        log("part 3: CPU server end to end")
        log_dir = (ns.out if str(ns.out) != "-" else Path("/tmp")) / "logs"
        res["e2e"] = run_e2e(e2e_spec, log_dir, log)
    res["elapsed_s"] = time.perf_counter() - t0
    res["uptime_after"] = _machine()["uptime"]
    res["targets"] = [{"target": n, "met": ok, "evidence": ev} for n, ok, ev in verdicts(res)]
    return res


def _rounded(value):
    """`value` with every float to 5 significant digits."""
    if isinstance(value, float):
        return float(f"{value:.5g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def write(res: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for rows in res.get("cache", {}).get("mixes", {}).values():
        for row in rows.values():
            for arm in row.get("raw", {}).values():  # keep the per-run totals
                for run in arm:
                    run.pop("locks", None)
    # one line, to 5 significant digits (results.md is the readable copy; git tracks both)
    (out / "results.json").write_text(
        json.dumps(_rounded(res), separators=(",", ":"), sort_keys=True) + "\n")
    m = res["machine"]
    head = (f"# Overlay overhead\n\nGenerated by `{res['command']}` "
            f"on {res['started']} ({res['elapsed_s']:.0f} s). Raw numbers: `results.json`.\n\n"
            f"Machine: Python {m['python']}, SGLang {m['sglang']}.\n\n```\n{m['lscpu']}\n\n"
            f"{m['memory']}\n```\n\nLoad before: `{m['uptime']}`  \nLoad after: "
            f"`{res['uptime_after']}`\n\n")
    md = out / "results.md"
    notes = ""
    if md.exists() and NOTES_MARK in (old := md.read_text()):
        notes = old[old.index(NOTES_MARK):]
    md.write_text(head + markdown(res) + "\n" + (notes or NOTES_MARK + "\n"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ns = parse(argv)
    ns.argv = argv
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # A SIGTERM unwinds like Ctrl-C, so the servers of part 3 are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    res = run(ns)
    print()
    print(markdown(res))
    if str(ns.out) != "-":
        write(res, ns.out)
        print(f"wrote {ns.out / 'results.md'} and {ns.out / 'results.json'}")
    return 0
