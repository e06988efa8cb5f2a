"""Live A/B on the testbed preset: every arm, a fresh server per run, arms interleaved.

    python experiments/live/run.py                 # full campaign (see README.md: hours)
    python experiments/live/run.py --quick         # 3 arms, 1 small cell, 1 repeat
    python experiments/live/run.py --reps 3 --loads contended --arms stock-lru,overlay-default
    python experiments/live/run.py --report-only   # rebuild results.md, summary.json, PNGs
    python experiments/live/run.py --workload swebench --programs 12 --max-turns 20 \
        --loads contended --arms stock-hicache-lpm,overlay-hicache --out DIR

Each repeat runs the arms in a different order (rotated by one per repeat, reversed on
odd repeats), so a drift of the shared machine's load does not always hit the same arm.
Every run records the load average before and after and the server's own CPU seconds.
Results: results/<load>-<arm>-r<rep>.json (the replay's per-turn records included);
another workload than the shared trace: results/<workload>-<load>-<arm>-r<rep>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import arms as arms_mod  # noqa: E402
import calibrate as calibrate_mod  # noqa: E402
import server_steps  # noqa: E402
import report  # noqa: E402
from cpu import group_cpu_seconds  # noqa: E402

from sglang_continuum.connect.metrics_text import MissingMetric  # noqa: E402
from sglang_continuum.replay import Concurrency, Poisson, replay  # noqa: E402
from sglang_continuum.replay.plain import PlainLoad  # noqa: E402
from sglang_continuum.replay.report import write_json  # noqa: E402
from sglang_continuum.launcher import testbed_link  # noqa: E402
from sglang_continuum.launcher.server import launch  # noqa: E402
from sglang_continuum.workload import describe, load  # noqa: E402

PRESET = "testbed-100m"
OVERLAY_COUNTERS = ("locks_set", "locks_consumed", "locks_lapsed", "locks_released_pressure",
                    "locks_refused", "gate_holds")  # gate_holds: with an admission gate


def order(names: list[str], rep: int) -> list[str]:
    k = rep % len(names)
    rotated = names[k:] + names[:k]
    return rotated[::-1] if rep % 2 else rotated


def _counters(server) -> dict:
    out = {}
    for name in OVERLAY_COUNTERS:
        try:
            out[name] = server.metric(f"sglang_continuum_{name}_total")
        except MissingMetric:
            pass
    return out


def memory() -> dict:
    """MemAvailable (MiB) and pages swapped in/out since boot (Linux; {} elsewhere): a
    host tier must not push the machine into swap."""
    try:
        mem = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        vm = dict(line.split() for line in Path("/proc/vmstat").read_text().splitlines())
        return {"mem_available_mib": int(mem["MemAvailable"].split()[0]) // 1024,
                "swap_total_mib": int(mem["SwapTotal"].split()[0]) // 1024,
                "pswpin": int(vm.get("pswpin", 0)), "pswpout": int(vm.get("pswpout", 0))}
    except (OSError, KeyError, ValueError):
        return {}


def _recorded(config: Path | None) -> dict | None:
    """A run's config-file keys as recorded: the profile by file name, not this machine's
    path to it."""
    if config is None:
        return None
    keys = json.loads(config.read_text())
    if "prefill_profile" in keys:
        keys["prefill_profile"] = Path(keys["prefill_profile"]).name
    return keys


def run_one(arm, ld, setup, rep: int, out_dir: Path, log_dir: Path, command: str,
            preset: str = PRESET, prefill_profile: Path | None = None,
            host_link: float | None = None) -> Path:
    """One server, one replay. `host_link` (bytes/s): arms with a host tier get their
    reloads paced at it (launcher/testbed_link.py)."""
    programs = load(setup.workload, 0, replace(setup.scaling, programs=ld.programs)
                    if ld.programs else setup.scaling)
    label = run_label(setup, ld.name, arm.name, rep)
    config = arms_mod.write_config(arm, log_dir, label, prefill_profile)
    flags = arms_mod.server_flags(arm, setup.pool_tokens, preset, config)
    load_before, mem_before = os.getloadavg(), memory()
    paced = host_link if host_link and "--enable-hierarchical-cache" in arm.flags else None
    env = {testbed_link.ENV: str(paced)} if paced else None
    with launch(flags, log_dir, overlay=arm.overlay, name=label, timeout=900,
                env=env) as server:
        cpu0, t0 = group_cpu_seconds(server.proc.pid), time.time()
        arrivals = Poisson(ld.rate, seed=0) if ld.rate else Concurrency(ld.concurrency)
        out = replay(server.url, programs, arrivals, seed=0,
                     progress=False, label=label, sessions=arm.sessions,
                     plain_agents=arm.plain_agents,
                     plain=PlainLoad(*ld.plain) if ld.plain else None,
                     meta={"workload": setup.workload_name,
                           "scaling": setup.scaling.describe(),
                           "workload_stats": describe(programs)})
        counters = _counters(server) if arm.overlay else {}
        mem_serving = memory()  # the server still up, its pools allocated
        cpu1 = group_cpu_seconds(server.proc.pid)
        steps = server_steps.step_stats(server.log())
    out["live"] = {"arm": arm.name, "load": ld.name, "workload": setup.workload_name,
                   "concurrency": None if ld.rate else ld.concurrency, "rate": ld.rate,
                   "rep": rep, "preset": preset,
                   # The config's file name, not this machine's path to it.
                   "server_flags": [Path(f).name if config and f == str(config) else f
                                    for f in flags]
                   + ([] if arm.overlay else ["--continuum-disable"]),
                   "continuum_config": _recorded(config),
                   "sessions": arm.sessions, "plain_agents": arm.plain_agents,
                   "pool_tokens": arm.pool(setup.pool_tokens),
                   "scaling": setup.scaling.describe(),
                   "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                   "memory_before": mem_before, "memory_serving": mem_serving,
                   "host_link_bytes_per_s": paced,
                   "server_cpu_s": cpu1 - cpu0, "server_steps": steps, "wall_s": time.time() - t0,
                   "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t0)),
                   "overlay_counters": counters, "command": command}
    path = out_dir / f"{label}.json"
    write_json(path, out)
    s = out["summary"]
    print(f"{label}: mean JCT {s['jct_mean_s']}, p95 {s['jct_p95_s']}, hit "
          f"{s['cache_hit_ratio']}, done {s['completed']}/{s['programs']}, load "
          f"{load_before[0]:.2f}->{out['live']['loadavg_after'][0]:.2f} {counters}", flush=True)
    return path


def run_label(setup, load_name: str, arm: str, rep: int) -> str:
    prefix = "" if setup.workload == "trace" else f"{setup.workload_name}-"
    return f"{prefix}{load_name}-{arm}-r{rep}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=None, help="repeats (default 3, quick 1)")
    ap.add_argument("--arms", help="comma-separated arm names (default: all)")
    ap.add_argument("--loads", help="comma-separated load names (default: all)")
    ap.add_argument("--out", type=Path, default=None,
                    help="folder of results/, results.md, summary.json, PNGs "
                    "(default: this folder; quick: ./quick)")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--time-scale", type=float, default=None,
                    help="tool-gap scale (default: calibrated on this machine so that "
                    "rebuild : tool time is the GPU's; see calibrate.py)")
    ap.add_argument("--redo", action="store_true",
                    help="rerun runs whose results file exists (default: keep them, so an "
                    "interrupted campaign resumes where it stopped)")
    ap.add_argument("--recalibrate", action="store_true",
                    help="measure the machine again even if calibration.json exists")
    ap.add_argument("--host-link", choices=("paced", "unpaced"), default="paced",
                    help="arms with a host tier: reloads paced so reload : rebuild is the "
                    "GPU's (default; calibrate.host_link), or unpaced DRAM copies (the "
                    "cells measured before 2026-12-02 21:30)")
    ap.add_argument("--workload", default="trace",
                    help="trace (the shared trace), a synthetic preset (swebench, bfcl), or "
                    "a trace file (.jsonl[.gz], the replay's schema)")
    ap.add_argument("--programs", type=int, default=None,
                    help="programs of the workload (default: the setup's, 8)")
    ap.add_argument("--max-turns", type=int, default=None,
                    help="turns per program at most (default: the setup's, 10)")
    ap.add_argument("--token-scale", type=float, default=None,
                    help="tokens scale (default: the setup's, 1/16)")
    ap.add_argument("--max-gap", type=float, default=None,
                    help="tool gap cap in seconds at time scale 1 (default: the setup's, 5)")
    ap.add_argument("--preset", default=PRESET,
                    help="model preset (tiny: a pipeline smoke test, not a measurement)")
    a = ap.parse_args(argv)
    setup = arms_mod.QUICK if a.quick else arms_mod.FULL
    knobs = {k: v for k, v in (("programs", a.programs), ("max_turns", a.max_turns),
                               ("token_scale", a.token_scale), ("max_gap_s", a.max_gap))
             if v is not None}
    try:
        setup = replace(setup, workload=a.workload,
                        scaling=replace(setup.scaling, **knobs))
        load(setup.workload, 0, replace(setup.scaling, programs=1))
    except ValueError as e:
        ap.error(str(e))
    out = a.out or (HERE / "quick" if a.quick else HERE)
    if a.report_only:
        report.write_all(out)
        return 0
    try:
        names = a.arms.split(",") if a.arms else list(setup.arms)
        arm_list = [arms_mod.arm(n) for n in names]
        loads = arms_mod.pick_loads(setup, a.loads)
    except ValueError as e:
        ap.error(str(e))
    reps = a.reps if a.reps is not None else (1 if a.quick else 3)
    command = shlex.join(["python", "experiments/live/run.py", *(sys.argv[1:] if argv is None
                                                                  else argv)])
    print(command, flush=True)
    (out / "results").mkdir(parents=True, exist_ok=True)
    log_dir = Path(tempfile.gettempdir()) / "live-logs"
    cal = calibrate_mod.calibrate(out, setup, a.preset, log_dir, force=a.recalibrate)
    ts = a.time_scale if a.time_scale is not None else cal["time_scale"]
    setup = calibrate_mod.scaled(setup, ts)
    print(f"tool gaps x{ts} (cap {setup.scaling.max_gap_s:.2f} s); overlay arms price "
          f"prefill with {out / 'prefill-profile.json'}", flush=True)
    link = None
    if a.host_link == "paced":
        hl = calibrate_mod.host_link(cal, a.preset)
        link = hl["bytes_per_s"]
        prof_path = out / "prefill-profile.json"
        prof = json.loads(prof_path.read_text())
        if prof.get("host_reload") != hl["host_reload"]:  # priced as the link is paced
            prof_path.write_text(json.dumps({**prof, "host_reload": hl["host_reload"]},
                                            indent=1))
        print(f"host tier: reloads paced at {link / 1e6:.0f} MB/s (a "
              f"{calibrate_mod.REF_CONTEXT}-token reload {hl['reload_ref_context_s'] * 1e3:.0f}"
              f" ms, x{hl['gpu_reload_to_rebuild']:.3f} of its rebuild, as on the GPU)",
              flush=True)
    plan = [(rep, ld, name) for rep in range(reps) for ld in loads
            for name in order([x.name for x in arm_list if a.arms or (
                x.name in arms_mod.MIXED_ARMS if ld.plain else x.name not in arms_mod.MIXED_ONLY)],
                rep)]
    started = time.time()
    for k, (rep, ld, name) in enumerate(plan):
        label = run_label(setup, ld.name, name, rep)
        if (out / "results" / f"{label}.json").exists() and not a.redo:
            print(f"[{k + 1}/{len(plan)}] {label}: done earlier, kept (--redo reruns it)")
        else:
            print(f"[{k + 1}/{len(plan)}] {label} ({(time.time() - started) / 60:.0f} min "
                  "into this invocation)", flush=True)
            run_one(arms_mod.arm(name), ld, setup, rep, out / "results", log_dir,
                    command, a.preset, out / "prefill-profile.json", link)
        if k + 1 == len(plan) or plan[k + 1][0] != rep:
            report.write_all(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
