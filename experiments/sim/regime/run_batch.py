"""Regime map, batch-limited slice: the running batch, not memory, is the limit.

    python experiments/sim/regime/run_batch.py --jobs 2
    python experiments/sim/regime/run_batch.py --profile 70b --jobs 2
    python experiments/sim/regime/run_batch.py --report-only

The map's other grids (run_regime.py) let the engine run 256 requests at once, so what
binds past the knee is compute and memory. Here SGLang's ``--max-running-requests`` caps
the running batch at a share of the N programs at a time (BATCH_SHARES), as on a GPU
whose batch is bounded (CUDA-graph sizes, a latency budget) while its KV pool is not:
- profile, workloads, loads (at and past the knee: the knees of the map's
  summary.json) and the device pool sizing are run_regime.py's;
- working set / device KV 0.5 (the pool holds every context twice over: only the batch
  limits) and 2 (memory and the batch both limit);
- host tier none or 4x the device pool (write-back);
- per point: each stock arm (BEST_STOCK, the point's host tier), the admission gate(s)
  and the default, and the no-contention floor, as in run_regime.py.
The issue's target where the batch is the limit: mean <= 0.7x the best stock arm, p95
<= 1.05x. Outputs: ``summary.json``, ``results.md`` in --out (default: regime-batch/).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run_regime as rr  # noqa: E402

from sglang_continuum.sim.policies import BEST_STOCK  # noqa: E402
from sglang_continuum.sim.sweep import RunSpec, sweep  # noqa: E402

BATCH_SHARES = (0.25, 0.5)
RATIOS = (0.5, 2.0)
HOSTS = ("none", "4x")
LOADS = ("at", "past")
SUMMARIES = {"8b": HERE / "summary.json", "70b": HERE.parent / "regime-70b" / "summary.json"}


def knees_of(profile: str, jobs: int) -> dict:
    """The map's knees (its summary.json), else measured as run_regime.py does."""
    path = SUMMARIES[profile]
    known = json.loads(path.read_text())["knees"] if path.exists() else {}
    return {wl: known.get(f"{profile}/{wl}") or rr.knee(profile, wl, jobs)
            for wl in rr.WORKLOADS}


def points(profile: str, knees: dict) -> list[dict]:
    out = []
    for wl in rr.WORKLOADS:
        for ld in LOADS:
            n = max(1, round(knees[wl]["n"] * rr.LOADS[ld]))
            mean_ctx, max_ctx = rr.context_stats(wl, n)
            for ratio in RATIOS:
                kv = max(int(n * mean_ctx / ratio), max_ctx + rr.CHUNK)
                for share in BATCH_SHARES:
                    for host in HOSTS:
                        out.append(dict(profile=profile, workload=wl, load=ld, n=n,
                                        ws=ratio, ws_ratio=n * mean_ctx / kv, host=host,
                                        kv=kv, cap=max(1, round(n * share)), share=share))
    return out


def spec(pt: dict, arm: str, label: str) -> RunSpec:
    return rr.spec(pt["workload"], pt["profile"], arm, pt["n"], pt["kv"],
                   rr.HOSTS[pt["host"]], label, max_running=pt["cap"])


def finish(pt: dict) -> None:
    arms = pt["arms"]
    best = min(BEST_STOCK, key=lambda a: arms[a]["mean"])
    gate = min((a for a in rr.GATES if a in arms), key=lambda a: arms[a]["mean"])
    d, b = arms[rr.DEFAULT], arms[best]
    pt["best_stock"], pt["gate"] = best, gate
    pt["ratio"] = {"mean": d["mean"] / b["mean"], "p95": d["p95"] / b["p95"],
                   "gate_mean": arms[gate]["mean"] / b["mean"]}
    pt["vs_floor"] = {"best_stock": b["mean"] / pt["floor"], "default": d["mean"] / pt["floor"]}
    pt["met"] = pt["ratio"]["mean"] <= rr.TARGET_CONTENDED and pt["ratio"]["p95"] <= rr.TARGET_P95
    pt["target_mean"] = rr.TARGET_CONTENDED
    rr.bound_ratios(pt, b["mean"], d["mean"], rr.TARGET_CONTENDED)
    pt["not_worse"] = pt["ratio"]["mean"] <= rr.TARGET_MEAN and pt["ratio"]["p95"] <= rr.TARGET_P95
    pt["mech_ratio"] = {a: {"mean": arms[a]["mean"] / b["mean"], "p95": arms[a]["p95"] / b["p95"]}
                        for a in rr.candidates_of(arms)}


def run(profile: str, jobs: int, candidates: tuple[str, ...] = ()) -> dict:
    t0 = time.time()
    knees = knees_of(profile, jobs)
    pts = points(profile, knees)
    specs, where = [], []
    for i, pt in enumerate(pts):
        for arm in rr.arms_of(pt, candidates):
            specs.append(spec(pt, arm, str(i)))
            where.append((i, arm))
    print(f"{len(pts)} points, {len(specs)} runs", flush=True)
    for (i, arm), r in zip(where, sweep(specs, jobs=jobs, progress=True)):
        pts[i].setdefault("arms", {})[arm] = {"mean": rr._g(r.jct_mean),
                                              "p95": rr._g(r.jct_p95)}
    for pt in pts:
        pt["floor"] = rr._g(rr.floor_of(profile, pt["workload"])[rr.programs_for(pt["n"])])
        rr.add_bound(pt, max_running=pt["cap"])
        finish(pt)
    return {"profile": profile, "knees": {wl: k["n"] for wl, k in knees.items()},
            "wall_s": round(time.time() - t0),
            "command": f"python experiments/sim/regime/run_batch.py --profile {profile} "
                       f"--jobs {jobs}" + (f" --arms {','.join(candidates)}" if candidates
                                           else ""),
            "points": pts}


FIELDS = ("workload", "load", "n", "ws", "ws_ratio", "host", "kv", "cap", "share", "floor",
          "bound", "bound_by")


def compact(res: dict) -> dict:
    """The summary as kept in git: one row per point, FIELDS then each arm's [mean, p95]
    (null where it did not run there); ``expand`` rebuilds the points."""
    pts = res["points"]
    arms = list(dict.fromkeys(a for p in pts for a in p["arms"]))
    rows = [[rr._g(p.get(f)) for f in FIELDS]
            + [[p["arms"][a]["mean"], p["arms"][a]["p95"]] if a in p["arms"] else None
               for a in arms] for p in pts]
    head = {k: v for k, v in res.items() if k != "points"}
    return {**head, "fields": list(FIELDS), "arms": arms, "rows": rows}


def expand(data: dict) -> dict:
    pts = []
    for row in data["rows"]:
        pt = dict(zip(data["fields"], row), profile=data["profile"])
        pt["arms"] = {a: {"mean": v[0], "p95": v[1]}
                      for a, v in zip(data["arms"], row[len(data["fields"]):]) if v}
        pts.append(pt)
    head = {k: v for k, v in data.items() if k not in ("fields", "arms", "rows")}
    return {**head, "points": pts}


def report(res: dict, out: Path) -> None:
    pts = res["points"]
    for pt in pts:
        finish(pt)
    means = sorted(p["ratio"]["mean"] for p in pts)
    p95s = sorted(p["ratio"]["p95"] for p in pts)
    lines = [
        "# Regime map, batch-limited slice: the default vs stock SGLang's best "
        "configuration (simulator)", "",
        f"Command: `{res['command']}` ({len(pts)} points, {res['wall_s'] / 60:.0f} min). "
        f"Profile {res['profile']}; knees (N) "
        + ", ".join(f"{wl} {n}" for wl, n in res["knees"].items())
        + f"; loads {', '.join(LOADS)} the knee; working set / device KV "
        f"{', '.join(f'{r:g}' for r in RATIOS)}; host tier {', '.join(HOSTS)}; running "
        f"batch capped at {', '.join(f'{s:g}' for s in BATCH_SHARES)} x N "
        "(`--max-running-requests`).", "",
        f"Target where the batch is the limit (mean <= {rr.TARGET_CONTENDED}x the best stock "
        f"arm, p95 <= {rr.TARGET_P95}x): met at {sum(p['met'] for p in pts)} of {len(pts)} "
        f"points. Never worse (mean <= {rr.TARGET_MEAN}x, p95 <= {rr.TARGET_P95}x): "
        f"{sum(p['not_worse'] for p in pts)} of {len(pts)}. The default's mean / best "
        f"stock: median {statistics.median(means):.2f}, best {means[0]:.2f}, worst "
        f"{means[-1]:.2f}; p95 median {statistics.median(p95s):.2f}, worst {p95s[-1]:.2f}.",
        "", *rr.bound_lines(pts), ""]
    for a in dict.fromkeys(a for p in pts for a in p["mech_ratio"]):
        rs = [p["mech_ratio"][a] for p in pts if a in p["mech_ratio"]]
        ms = sorted(r["mean"] for r in rs)
        ps = sorted(r["p95"] for r in rs)
        lines.append(f"`{a}`: never worse at "
                     f"{sum(r['mean'] <= rr.TARGET_MEAN and r['p95'] <= rr.TARGET_P95 for r in rs)}"
                     f" of {len(rs)} points, 0.7x at "
                     f"{sum(r['mean'] <= rr.TARGET_CONTENDED and r['p95'] <= rr.TARGET_P95 for r in rs)};"
                     f" mean / best stock median {statistics.median(ms):.2f}, worst {ms[-1]:.2f};"
                     f" p95 worst {ps[-1]:.2f}.  ")
    lines += [
        "",
        "| workload | load (N) | cap | ws/KV | host | best stock | default/best mean | p95 | "
        "gate/best | best x floor | default x floor | best x bound (binds) | 0.7x met | "
        "not worse | other arms (as listed above): mean, p95 |",
        "|" + "---|" * 15]
    for p in pts:
        lines.append(
            f"| {p['workload']} | {p['load']} ({p['n']}) | {p['cap']} | {p['ws_ratio']:.2g} | "
            f"{p['host']} | {p['best_stock']} | {p['ratio']['mean']:.2f} | "
            f"{p['ratio']['p95']:.2f} | {p['ratio']['gate_mean']:.2f} ({p['gate']}) | "
            f"{p['vs_floor']['best_stock']:.2f} | {p['vs_floor']['default']:.2f} | "
            f"{rr._x_bound(p)} | {'yes' if p['met'] else 'no (below bound)' if not p.get('feasible', True) else 'no'} | "
            f"{'yes' if p['not_worse'] else 'no'} | "
            + "; ".join(f"{r['mean']:.2f}, {r['p95']:.2f}" for r in p["mech_ratio"].values())
            + " |")
    (out / "results.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=tuple(rr.PROFILES), default="8b")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", type=Path, help="default: regime-batch/ (8b), "
                    "regime-70b-batch/ (70b), beside regime/")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--arms", help="comma-separated arms (sim/policies.py) to run beside "
                    "stock, gate and the default")
    ap.add_argument("--add-bounds", action="store_true", help="with --report-only: "
                    "(re)compute each point's capacity bound first (summary.json rewritten)")
    a = ap.parse_args(argv)
    out = a.out or HERE.parent / ("regime-batch" if a.profile == "8b" else
                                  f"regime-{a.profile}-batch")
    out.mkdir(parents=True, exist_ok=True)
    if a.report_only:
        res = expand(json.loads((out / "summary.json").read_text()))
        if a.add_bounds:
            for pt in res["points"]:
                rr.add_bound(pt, max_running=pt["cap"])
            (out / "summary.json").write_text(json.dumps(compact(res), separators=(",", ":")))
    else:
        res = run(a.profile, a.jobs, tuple(a.arms.split(",")) if a.arms else ())
        (out / "summary.json").write_text(json.dumps(compact(res), separators=(",", ":")))
    report(res, out)
    print((out / "results.md").read_text()[:2500])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
