"""Run the A/B matrix on the CPU server with the tiny model (see README.md).

Each arm gets a FRESH server with the same KV pool, then plays every workload x load
back to back (cache flushed between runs; identical token ids across arms). Results,
the exact command and the machine go to ``experiments/ab/results/``.

    .venv/bin/python experiments/ab/run_matrix.py            # the real matrix (~40 min)
    .venv/bin/python experiments/ab/run_matrix.py --quick    # pipeline smoke test
    .venv/bin/python experiments/ab/run_matrix.py --report-only   # redo tables and plots
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ab_report import write_report  # noqa: E402
from cpu import group_cpu_seconds, load_average  # noqa: E402
from matrix import ARMS, BASELINE, LOADS, OVERLAY_COMMON, QUICK, WORKLOADS  # noqa: E402
from prefill_profile import measure  # noqa: E402

from sglang_continuum.replay import Concurrency, replay  # noqa: E402
from sglang_continuum.replay.report import write_json  # noqa: E402
from sglang_continuum.testing.server import launch  # noqa: E402
from sglang_continuum.workload import Program, describe, load  # noqa: E402

HERE = Path(__file__).resolve().parent


def sh(cmd: str) -> str:
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return f"({cmd}: {e})"


def machine() -> dict:
    return {"lscpu": sh("lscpu | head -20"), "free": sh("free -g"), "nproc": sh("nproc").strip(),
            "uptime_start": sh("uptime").strip(), "python": sys.version.split()[0],
            "git": sh(f"git -C {HERE} rev-parse --short HEAD").strip()}


def log(msg: str, t0: float) -> None:
    print(f"[{time.monotonic() - t0:7.0f}s] {msg}", flush=True)


def last_status(log_text: str) -> dict | None:
    lines = re.findall(r"continuum status (\{.*\})", log_text)
    return json.loads(lines[-1]) if lines else None


def overlay_metrics(server) -> dict:
    try:
        return {k: v for k, v in server.metrics().items()
                if k.startswith("sglang_continuum_") and "_created" not in k}
    except requests.RequestException:
        return {}


def renamed(programs: list[Program], prefix: str) -> list[Program]:
    # unique ids per run: the overlay's program table outlives a cache flush
    return [dataclasses.replace(p, program_id=f"{prefix}:{p.program_id}") for p in programs]


def run_arm(arm, args, workloads, loads, profile_path, t0, results, out_dir):
    flags = ["--max-total-tokens", str(args.pool), "--random-seed", "0", *arm.flags]
    if arm.overlay:
        flags += [*OVERLAY_COMMON, "--continuum-prefill-profile", str(profile_path)]
    log(f"arm {arm.name}: starting a fresh server: {' '.join(flags)}", t0)
    with launch(flags, out_dir / "logs", overlay=arm.overlay, name=arm.name,
                timeout=600) as srv:
        log(f"arm {arm.name}: server up at {srv.url}", t0)
        if arm.name == BASELINE and not args.no_profile:
            prof = measure(srv.url)
            profile_path.write_text(json.dumps(prof, indent=1))
            log(f"prefill profile (stock server): a={prof['a']:.3g} b={prof['b']:.3g} "
                f"c={prof['c']:.3g} from {prof['samples']}", t0)
        for wi, wl in enumerate(workloads):
            base = load(wl.source, 0, dataclasses.replace(
                wl.scaling, programs=max(ld.programs for ld in loads)))
            for li, ld in enumerate(loads):
                requests.post(f"{srv.url}/flush_cache", timeout=60)
                key = f"{wl.name}/{ld.name}"
                progs = renamed(base[: ld.programs], f"{arm.name}-{wl.name}-{ld.name}")
                log(f"arm {arm.name}: {key}: {len(progs)} programs, concurrency "
                    f"{ld.concurrency} ...", t0)
                start, cpu0, load0 = time.monotonic(), group_cpu_seconds(srv.proc.pid), \
                    load_average()
                out = replay(srv.url, progs, Concurrency(ld.concurrency), seed=100 + 10 * wi + li,
                             progress=sys.stderr.isatty(), label=f"{arm.name}-{wl.name}-{ld.name}",
                             meta={"workload": wl.source, "scaling": wl.scaling.describe(),
                                   "workload_stats": describe(progs)})
                s = out["summary"]
                rec = {"arm": arm.name, "workload": wl.name, "load": ld.name,
                       "concurrency": ld.concurrency, "wall_s": time.monotonic() - start,
                       "server_cpu_s": group_cpu_seconds(srv.proc.pid) - cpu0,
                       "load_avg_start": load0, "load_avg_end": load_average(),
                       "summary": s, "jct": [p["jct_s"] for p in out["programs"]
                                             if p["jct_s"] is not None],
                       "status": last_status(srv.log()) if arm.overlay else None,
                       "metrics": overlay_metrics(srv) if arm.overlay else {}}
                results.append(rec)
                write_json(out_dir / "runs" / f"{out['label']}.json", out)
                nan = float("nan")
                log(f"arm {arm.name}: {key}: done in {rec['wall_s']:.0f}s: mean JCT "
                    f"{s['jct_mean_s'] or nan:.1f}s p99 {s['jct_p99_s'] or nan:.1f}s hit "
                    f"{s['cache_hit_ratio'] or 0:.2f} done {s['completed']}/{s['programs']}", t0)
                write_json(out_dir / "ab_results.json", {"runs": results})
                if out["interrupted"]:
                    raise KeyboardInterrupt  # Ctrl-C inside the replay: stop the matrix


def _interrupt(*_):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=6000, help="--max-total-tokens of every arm")
    ap.add_argument("--arms", default="all", help="comma-separated arm names or 'all'")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--quick", action="store_true", help="tiny smoke test of the pipeline")
    ap.add_argument("--no-profile", action="store_true",
                    help="skip measuring the prefill profile (overlay default 1e-4 s/token)")
    ap.add_argument("--report-only", action="store_true",
                    help="rebuild ab_results.md and the plots from --out/ab_results.json")
    args = ap.parse_args(argv)
    if args.report_only:
        data = json.loads((args.out / "ab_results.json").read_text())
        print(write_report(data["meta"], data["runs"], args.out))
        return 0
    arms = ARMS if args.arms == "all" else [a for a in ARMS if a.name in args.arms.split(",")]
    workloads, loads = (QUICK["workloads"], QUICK["loads"]) if args.quick else (WORKLOADS, LOADS)
    args.out.mkdir(parents=True, exist_ok=True)
    profile_path = args.out / "prefill_profile.json"
    if args.no_profile or not any(a.name == BASELINE for a in arms):
        if not profile_path.exists():
            profile_path.write_text(json.dumps({"a": 0.0, "b": 1e-4, "c": 0.0,
                                                "method": "overlay default"}))
    # SIGTERM stops like Ctrl-C: partial results are written and the server is stopped
    signal.signal(signal.SIGTERM, _interrupt)
    t0 = time.monotonic()
    meta = {"command": shlex.join(["python", *sys.argv]), "machine": machine(),
            "pool": args.pool, "arms": [dataclasses.asdict(a) for a in arms],
            "workloads": [{"name": w.name, "source": w.source, "scaling": w.scaling.describe()}
                          for w in workloads],
            "loads": [dataclasses.asdict(ld) for ld in loads],
            "overlay_common": list(OVERLAY_COMMON), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(meta["command"], "\n", meta["machine"]["lscpu"], flush=True)
    results: list[dict] = []
    try:
        for arm in arms:
            run_arm(arm, args, workloads, loads, profile_path, t0, results, args.out)
    except KeyboardInterrupt:
        log("interrupted: writing the results so far", t0)
    meta["wall_s"] = time.monotonic() - t0
    meta["uptime_end"] = sh("uptime").strip()
    meta["prefill_profile"] = json.loads(profile_path.read_text())
    write_json(args.out / "ab_results.json", {"meta": meta, "runs": results})
    print(write_report(meta, results, args.out), flush=True)
    log("done", t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
