"""The simulator against the live testbed: same workload, same load, the step profile
measured on this machine's testbed server (``calibration.json``), both policies.

    python experiments/live/sim_fidelity.py [--out DIR]

For each live cell (load) and each pair (live arm, simulator policy) it prints and
writes (``sim-fidelity.md``, ``sim-fidelity.json``) the live mean JCT (median of
repeats, min-max) beside the simulator's, and the same for the time in server (JCT
minus tool time). Targets (issue 11): within 10% on mean JCT, 15% on time in server.
Cells with plain traffic beside the agents (mixed) are left out: the simulated workload
holds the agent programs only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import report  # noqa: E402

from sglang_continuum.server.presets import kv_bytes_per_token  # noqa: E402
from sglang_continuum.sim.sweep import RunSpec, sweep  # noqa: E402
from sglang_continuum.workload import Scaling, load  # noqa: E402

# live arm -> simulator policy of the same rule, and whether the simulator has a host tier
PAIRS = (("stock-lru", "lru", False), ("stock-slru", "slru", False),
         ("stock-tlru", "tlru", False), ("stock-sessions", "radix_sessions", False),
         ("stock-lpm", "lpm", False), ("overlay-default", "continuum", False),
         ("paper", "paper", False), ("stock-hicache-wt", "lru", True),
         ("overlay-hicache", "continuum", True))
JCT_TOL, TIS_TOL = 0.10, 0.15


def trace_lines(programs) -> str:
    return "".join(json.dumps({"job_id": p.program_id, "turns": [
        {"in": t.prompt, "out": t.output, "tools": list(t.tools), "gap_s": t.gap_s}
        for t in p.turns]}) + "\n" for p in programs)


def compare(out: Path) -> dict:
    cal = json.loads((out / "calibration.json").read_text())
    runs = [json.loads(p.read_text()) for p in sorted((out / "results").glob("*.json"))]
    summary = report.summarize(runs)
    by_load = {}
    for r in runs:
        # The simulator's workload holds the agent programs only: a cell with plain
        # traffic beside them (mixed) is not compared, nor an open-arrival cell (the
        # comparison drives the simulator at the live run's concurrency).
        if "plain" not in r and not r["live"].get("rate"):
            by_load.setdefault(r["live"]["load"], r)
    result = {"profile": {k: cal["sim_profile"][k] for k in ("prefill", "decode")},
              "cells": {}}
    # Host-tier arms paced like a GPU's host link (run.py --host-link paced): the
    # simulator reloads at the same rate (unpaced runs: a DRAM copy, taken as free).
    rates = {r["live"].get("host_link_bytes_per_s") for r in runs} - {None}
    if len(rates) > 1:
        raise ValueError(f"runs paced at different host-link rates: {sorted(rates)}")
    with tempfile.TemporaryDirectory() as tmp:
        prof = Path(tmp) / "profile.json"
        prof.write_text(json.dumps(cal["sim_profile"]))
        host_prof = prof
        if rates:
            host_prof = Path(tmp) / "profile-host.json"
            reload = rates.pop() / kv_bytes_per_token(cal["preset"])
            host_prof.write_text(json.dumps({**cal["sim_profile"],
                                             "reload_tokens_per_s": reload}))
            result["host_reload_tokens_per_s"] = reload
        for ld, run in sorted(by_load.items()):
            cell = summary[f"trace/{ld}"]
            programs = load("trace", 0, Scaling(**run["live"]["scaling"]))
            wl = Path(tmp) / f"{ld}.jsonl"
            wl.write_text(trace_lines(programs))
            tool = statistics.mean(sum(t.gap_s for t in p.turns) for p in programs)
            pairs = [(a, pol, host) for a, pol, host in PAIRS if a in cell["arms"]]
            specs = [RunSpec(str(wl), str(host_prof if host else prof), pol, 0.0, 0, None,
                             host, label=ld,
                             concurrency=run["live"].get("concurrency") or _conc(run))
                     for _, pol, host in pairs]
            sims = sweep(specs, jobs=1, progress=False)
            rows = {}
            for (arm, pol, host), s in zip(pairs, sims):
                a = cell["arms"][arm]
                live_jct = a["jct_mean_s"]["median"]
                live_tis = live_jct - a["breakdown"].get("tool_s", tool)
                sim_tis = s.jct_mean - tool
                rows[arm] = {"sim_policy": pol + (" +host" if host else ""),
                             "live_jct_mean_s": a["jct_mean_s"],
                             "sim_jct_mean_s": s.jct_mean,
                             "jct_error": s.jct_mean / live_jct - 1,
                             "live_time_in_server_s": live_tis,
                             "sim_time_in_server_s": sim_tis,
                             "time_in_server_error": sim_tis / live_tis - 1,
                             "live_hit": a["cache_hit_ratio"]["median"],
                             "sim_hit": s.cache_hit_ratio}
                rows[arm]["within"] = (abs(rows[arm]["jct_error"]) <= JCT_TOL
                                       and abs(rows[arm]["time_in_server_error"]) <= TIS_TOL)
            result["cells"][f"trace/{ld}"] = {"tool_s_per_program": tool, "rows": rows}
    return result


def _conc(run: dict) -> int:
    from arms import LOADS

    return next(ld.concurrency for ld in LOADS if ld.name == run["live"]["load"])


def markdown(res: dict) -> str:
    p = res["profile"]
    lines = ["# Simulator vs live testbed", "",
             "Simulator driven with the step profile measured on the testbed server "
             "(`calibration.json`): prefill " + ", ".join(f"{k}={v:.3g}"
                                                          for k, v in p["prefill"].items())
             + "; decode " + ", ".join(f"{k}={v:.3g}" for k, v in p["decode"].items()) + ".",
             "Targets: mean JCT within 10%, time in server (JCT - tool time) within 15%.", ""]
    if res.get("host_reload_tokens_per_s"):
        lines[-1:-1] = [f"Host-tier arms: reloads paced on the server and the simulator at "
                        f"{res['host_reload_tokens_per_s']:,.0f} tokens/s (run.py "
                        "--host-link paced)."]
    for cell, c in res["cells"].items():
        lines += [f"## {cell} (tool time per program {c['tool_s_per_program']:.1f} s)", "",
                  "| live arm | sim policy | live mean JCT (min-max) | sim | error | live time "
                  "in server | sim | error | live hit | sim hit | within |",
                  "|" + "---|" * 11]
        for arm, r in c["rows"].items():
            j = r["live_jct_mean_s"]
            lines.append(
                f"| {arm} | {r['sim_policy']} | {j['median']:.1f} ({j['min']:.1f}-"
                f"{j['max']:.1f}) | {r['sim_jct_mean_s']:.1f} | {r['jct_error']:+.0%} | "
                f"{r['live_time_in_server_s']:.1f} | {r['sim_time_in_server_s']:.1f} | "
                f"{r['time_in_server_error']:+.0%} | {r['live_hit']:.2f} | "
                f"{r['sim_hit']:.2f} | {'yes' if r['within'] else 'no'} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE)
    a = ap.parse_args(argv)
    res = compare(a.out)
    (a.out / "sim-fidelity.json").write_text(json.dumps(res, indent=1))
    text = markdown(res)
    (a.out / "sim-fidelity.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
