"""Simulator fidelity: real-server mean JCT vs the simulator's, same programs,
same closed-loop load, with a cpu_tiny profile measured on the same server.

    .venv/bin/python experiments/fidelity/run_fidelity.py --out results/runN   # ~4.5 min
    .venv/bin/python experiments/fidelity/run_fidelity.py --sim-only --out results/run2 \
        --profile sglang_continuum/sim/profiles/cpu_tiny.json --json fidelity.json  # seconds

Real runs: a stock server (``--continuum-disable``), then an overlay server with its
defaults (+ the measured prefill fit), each playing every load back to back (cache
flushed between loads). The profile is measured on the stock server before its replays
(``sglang_continuum.profile_decode``) and written to ``<out>/cpu_tiny.json`` (again on the
overlay server after its replays: ``cpu_tiny_after.json``, a drift check); the simulator
then runs ``lru`` and ``continuum`` on exactly the replayed programs and load.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import requests

from sglang_continuum.tools.profile_steps import measure_decode, measure_prefill, sim_profile
from sglang_continuum.replay import Concurrency, replay
from sglang_continuum.replay.report import write_json
from sglang_continuum.sim.profiles import from_json
from sglang_continuum.sim.simulator import Simulator
from sglang_continuum.testing.server import launch
from sglang_continuum.workload import Program, Scaling, describe, load

HERE = Path(__file__).resolve().parent
POOL = 6000  # the A/B matrix's --max-total-tokens
SCALING = Scaling(token_scale=1 / 16, max_turns=10, output_cap=32, max_gap_s=5.0)
LOADS = {"light": (2, 6), "contended": (8, 8)}  # name: (concurrency, programs)
# One torch thread per server: with two threads, a second busy process on these 2 cores
# (other engineers' servers) made OpenMP barriers spin and steps 10-30x slower at random.
SERVER_ENV = {"OMP_NUM_THREADS": "1"}
ARMS = {"stock": (False, "lru"), "continuum": (True, "continuum")}  # overlay?, sim policy


def sh(cmd: str) -> str:
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()


def programs_for(load_name: str, arm: str) -> list[Program]:
    conc, n = LOADS[load_name]
    base = load("trace", 0, dataclasses.replace(SCALING, programs=n))
    # unique ids per run: the overlay's program table outlives a cache flush
    return [dataclasses.replace(p, program_id=f"fid-{arm}-{load_name}:{p.program_id}")
            for p in base]


def profile_server(url: str, out: Path) -> dict:
    t = time.monotonic()
    prof = sim_profile(measure_prefill(url, repeats=3), measure_decode(url, repeats=2),
                       POOL, 4096, 2048, "cpu_tiny")
    prof.update(command="python -m sglang_continuum.profile_decode --url URL --kv-capacity "
                f"{POOL} --out cpu_tiny.json (run inside {Path(__file__).name})",
                machine=sh("lscpu | grep 'Model name'"), date=time.strftime("%Y-%m-%d %H:%M"),
                server_args=f"--max-total-tokens {POOL} (CPU tiny defaults), env {SERVER_ENV}",
                uptime=sh("uptime"), measure_s=round(time.monotonic() - t, 1))
    out.write_text(json.dumps(prof, indent=1))
    print(f"profile: prefill {prof['prefill']} decode {prof['decode']}", flush=True)
    return prof


def run_real(args) -> None:
    res = args.out
    (res / "runs").mkdir(parents=True, exist_ok=True)
    for arm in args.arms or list(ARMS):  # in the order given (to swap the arms' order)
        overlay = ARMS[arm][0]
        flags = ["--max-total-tokens", str(POOL), "--random-seed", "0", "--enable-metrics"]
        if overlay:
            prof = json.loads((res / "cpu_tiny.json").read_text())
            # the server's rebuild model is from scratch (m = 0): a, b, c
            (res / "prefill_profile.json").write_text(
                json.dumps({k: prof["prefill"][k] for k in "abc"}))
            flags += ["--continuum-prefill-profile", str(res / "prefill_profile.json")]
        with launch(flags, res / "logs", overlay=overlay, name=arm, timeout=600,
                    env=SERVER_ENV) as srv:
            print(f"{arm}: server up ({' '.join(flags)})", flush=True)
            if not overlay and not args.skip_profile:
                profile_server(srv.url, res / "cpu_tiny.json")
            for ld, (conc, _) in LOADS.items():
                requests.post(f"{srv.url}/flush_cache", timeout=60)
                progs = programs_for(ld, arm)
                up0 = sh("uptime")
                out = replay(srv.url, progs, Concurrency(conc), seed=7, progress=False,
                             label=f"{arm}-{ld}",
                             meta={"scaling": SCALING.describe(), "workload": "trace",
                                   "workload_stats": describe(progs), "server_flags": flags,
                                   "uptime_before": up0, "uptime_after": sh("uptime")})
                write_json(res / "runs" / f"{arm}-{ld}.json", out)
                s = out["summary"]
                print(f"{arm}/{ld}: mean JCT {s['jct_mean_s']:.1f}s hit "
                      f"{s['cache_hit_ratio']:.2f} done {s['completed']}/{s['programs']} "
                      f"({up0})", flush=True)
            if overlay and not args.skip_profile:  # drift check: same profile, later
                profile_server(srv.url, res / "cpu_tiny_after.json")


def simulate(profile_path: Path, load_name: str, arm: str) -> dict:
    conc, _ = LOADS[load_name]
    prof = from_json(json.loads(profile_path.read_text()))
    sim = Simulator(programs_for(load_name, arm), None, prof, ARMS[arm][1], concurrency=conc)
    return sim.run().to_dict()


def report(args) -> str:
    res = args.out
    profile = Path(args.profile) if args.profile else res / "cpu_tiny.json"
    rows, data = [], []
    for ld in LOADS:
        for arm in ARMS:
            path = res / "runs" / f"{arm}-{ld}.json"
            if not path.exists():
                continue
            run = json.loads(path.read_text())
            real, uptime = run["summary"], run["meta"].get("uptime_before", "")
            sim = simulate(profile, ld, arm)
            err = (sim["jct_mean"] - real["jct_mean_s"]) / real["jct_mean_s"] * 100
            # JCT = tool gaps (identical in both, slept by the client) + time in the server
            gaps = sum(p.tool_time_s for p in programs_for(ld, arm)) / LOADS[ld][1]
            real_srv, sim_srv = real["jct_mean_s"] - gaps, sim["jct_mean"] - gaps
            srv_err = (sim_srv - real_srv) / real_srv * 100
            data.append({"load": ld, "arm": arm, "sim_policy": ARMS[arm][1],
                         "concurrency": LOADS[ld][0], "programs": LOADS[ld][1],
                         "real": real, "sim": {k: v for k, v in sim.items()
                                               if k != "policy_snapshot"},
                         "err_pct": err, "mean_tool_time_s": gaps,
                         "service_real_s": real_srv, "service_sim_s": sim_srv,
                         "service_err_pct": srv_err, "uptime": uptime})
            rows.append(f"| {ld} (c={LOADS[ld][0]}, {LOADS[ld][1]} progs) | {arm} "
                        f"(sim `{ARMS[arm][1]}`) | {real['jct_mean_s']:.1f} | "
                        f"{sim['jct_mean']:.1f} | {err:+.1f}% | {real_srv:.2f} | {sim_srv:.2f} | "
                        f"{srv_err:+.0f}% | {real['cache_hit_ratio']:.2f} | "
                        f"{sim['cache_hit_ratio']:.2f} | {uptime.split('load average:')[-1]} |")
    table = "\n".join([
        "| load | arm | real mean JCT (s) | sim mean JCT (s) | JCT error | real time in server "
        "(s) | sim (s) | error | real hit | sim hit | load avg (1/5/15 min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows])
    write_json(args.json or res / "fidelity.json", {"profile": str(profile), "scaling": SCALING.describe(),
                                       "pool": POOL, "rows": data,
                                       "command": shlex.join(["python", *sys.argv])})
    return table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "results" / "latest")
    ap.add_argument("--sim-only", action="store_true", help="only re-run the simulator")
    ap.add_argument("--skip-profile", action="store_true", help="keep results/cpu_tiny.json")
    ap.add_argument("--arms", nargs="*", choices=list(ARMS), help="real arms to run, in this order")
    ap.add_argument("--profile", help="sim profile JSON (default results/cpu_tiny.json)")
    ap.add_argument("--json", type=Path, help="where the table's JSON goes "
                    "(default results/fidelity.json)")
    args = ap.parse_args(argv)
    print(shlex.join(["python", *sys.argv]), "\n", sh("lscpu | head -15"), "\n",
          sh("uptime"), flush=True)
    if not args.sim_only:
        run_real(args)
    print(report(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
