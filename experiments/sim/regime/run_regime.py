"""Regime map: where the overlay's default beats stock SGLang's best configuration.

    python experiments/sim/regime/run_regime.py --grid reduced --jobs 2
    python experiments/sim/regime/run_regime.py --grid full --jobs 2
    python experiments/sim/regime/run_regime.py --report-only

Axes (closed loop: N programs at a time, each finish starts the next):
- profile: Llama-3.1-8B on one H100, Llama-3.1-70B on 4xH100 (roofline step times and
  host link; the device pool is set per point, below);
- workload: the shared trace, the swebench and bfcl presets, and ``long`` (24 turns on
  average, contexts of ~150k tokens: past the device pool at the larger ratios);
- working set / device KV in {0.5, 1, 2, 4, 8}: the device pool is sized to N x the
  workload's mean turn context / ratio (at least one turn's largest context plus a
  chunk, so that no program is aborted; the recorded ``ws_ratio`` is the real one);
- host tier: none, 1x, 4x the device pool, unbounded (write-back);
- load: below, at and past the knee, N = knee/4, knee, 2 x knee, where the knee is the
  smallest N (of 1, 2, 4, ..., 64) at which, with an unbounded device pool, mean JCT
  exceeds the no-contention floor by KNEE_SLOWDOWN: compute, not memory, is then the
  limit.

Per point: each stock arm (hrrn, spf, lpm, radix sessions, each with the point's host
tier), the admission gate (comparison mode: sized to the device pool, and to device
plus host where there is a host tier; the better one is reported), the default; the
floor is every program alone. Outputs (small, kept in git): ``summary.json`` (per
point: mean and p95 JCT per arm, ratios, breakdowns where the default misses),
``results.md``, ``regime.png`` (the default's mean JCT / best stock's).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))

from dataclasses import replace  # noqa: E402

from sglang_continuum.replay.plots import save_png  # noqa: E402
from sglang_continuum.sim import Simulator, load_profile  # noqa: E402
from sglang_continuum.sim.bounds import mean_jct_bound, solos_from_turns  # noqa: E402
from sglang_continuum.sim.policies import BEST_STOCK  # noqa: E402
from sglang_continuum.sim.sweep import RunSpec, _programs, sweep  # noqa: E402

PROFILES = {"8b": "llama3.1-8b-h100", "70b": "llama3.1-70b-4xh100"}
LONG = (("turns_mean", 24.0), ("turns_std", 3.0), ("tokens_mean", 150_000.0),
        ("tokens_std", 40_000.0), ("output_mean", 250.0), ("tool_mean_s", 3.0),
        ("tool_std_s", 5.0))
WORKLOADS = {"trace": ("trace", ()), "swebench": ("swebench", ()), "bfcl": ("bfcl", ()),
             "long": ("swebench", LONG)}
RATIOS = (0.5, 1.0, 2.0, 4.0, 8.0)
HOSTS = {"none": None, "1x": 1.0, "4x": 4.0, "inf": math.inf}
LOADS = {"below": 0.25, "at": 1.0, "past": 2.0}
KNEE_NS = (1, 2, 4, 8, 16, 32, 64)
KNEE_SLOWDOWN = 1.25
DEFAULT = "continuum"
GATES = ("gate", "gate_host")
# Arms measured beside the default (sim/policies.py): the default before queue order
# "srpt" and pressure scope "host" (program FCFS, scope "younger"); with a host tier,
# the default's order with locks giving way only while the host tier has free room for
# them (a simulator policy: the server cannot test that room yet).
MECHS = ("continuum_fcfs", "continuum_srpt_host")
MECHS_NO_HOST = ("continuum_fcfs",)
UNBOUNDED_KV = 1 << 40
CHUNK = 8192
GRIDS = {
    # every axis at every value
    "full": dict(profiles=tuple(PROFILES), workloads=tuple(WORKLOADS), ratios=RATIOS,
                 hosts=tuple(HOSTS), loads=tuple(LOADS)),
    # what two busy shared cores finish in well under an hour
    "reduced": dict(profiles=("8b",), workloads=tuple(WORKLOADS), ratios=RATIOS,
                    hosts=tuple(HOSTS), loads=("at", "past")),
    # the reduced grid on Llama-3.1-70B/4xH100 (its own knees)
    "reduced-70b": dict(profiles=("70b",), workloads=tuple(WORKLOADS), ratios=RATIOS,
                        hosts=tuple(HOSTS), loads=("at", "past")),
    # the reduced grid's profile and axes at the load below the knee (knee / 4)
    "reduced-below": dict(profiles=("8b",), workloads=tuple(WORKLOADS), ratios=RATIOS,
                          hosts=tuple(HOSTS), loads=("below",)),
    # the same for Llama-3.1-70B/4xH100
    "reduced-70b-below": dict(profiles=("70b",), workloads=tuple(WORKLOADS), ratios=RATIOS,
                              hosts=tuple(HOSTS), loads=("below",)),
    "smoke": dict(profiles=("8b",), workloads=("swebench",), ratios=(1.0, 4.0),
                  hosts=("none", "inf"), loads=("at",)),
}
TARGET_MEAN, TARGET_P95, TARGET_CONTENDED = 1.0, 1.05, 0.7


def programs_for(n: int) -> int:
    return max(12, 2 * n)


def spec(workload: str, profile: str, policy: str, n: int, kv: int, host: float | None,
         label: str, max_running: int | None = None) -> RunSpec:
    """One run of a point; `max_running`: a running-batch cap (run_batch.py)."""
    name, over = WORKLOADS[workload]
    return RunSpec(name, PROFILES[profile], policy, 0.0, 0, programs_for(n),
                   host_tier=host is not None, overrides=over, label=label,
                   concurrency=n, host_ratio=math.inf if host is None else host,
                   kv_capacity=kv, max_running=max_running)


def context_stats(workload: str, n: int) -> tuple[float, int]:
    name, over = WORKLOADS[workload]
    progs = _programs(name, programs_for(n), 0, over)
    ctx = [t.prompt + t.output for p in progs for t in p.turns]
    return statistics.mean(ctx), max(ctx)


def knee(profile: str, workload: str, jobs: int) -> dict:
    """The knee's N and the sweep behind it (unbounded device pool, stock lru)."""
    specs = [spec(workload, profile, "lru", n, UNBOUNDED_KV, None, "knee") for n in KNEE_NS]
    runs = sweep(specs, jobs=jobs, progress=False)
    floor = floor_of(profile, workload)
    slow = [r.jct_mean / floor[r.programs] for r in runs]
    k = next((n for n, s in zip(KNEE_NS, slow) if s >= KNEE_SLOWDOWN), KNEE_NS[-1])
    return {"n": k, "sweep": {str(n): round(s, 3) for n, s in zip(KNEE_NS, slow)}}


_FLOORS: dict = {}


def floor_of(profile: str, workload: str) -> "_Prefix":
    """Mean JCT of each program alone (one at a time, unbounded pool), over the first P
    programs, for every P a point uses: one serial run of the most programs."""
    key = (profile, workload)
    if key not in _FLOORS:
        name, over = WORKLOADS[workload]
        progs = _programs(name, programs_for(2 * max(KNEE_NS)), 0, over)
        prof = replace(load_profile(PROFILES[profile]), kv_capacity_tokens=UNBOUNDED_KV)
        sim = Simulator(progs, None, prof, "lru", concurrency=1)
        sim.run()
        jct = {r.program_id: r.jct for r in sim.program_records}
        ids = [pr.program_id for pr in progs]
        solos = {host: solos_from_turns(sim.turn_records, progs, prof.coefficients, host)
                 for host in (False, True)}
        _FLOORS[key] = _Prefix(ids, jct, solos, prof.max_running)
    return _FLOORS[key]


class _Prefix:
    """Floor by the number of programs a run used: the mean over the first P; and the
    capacity bound of a run of them (sim/bounds.py)."""

    def __init__(self, ids, jct, solos, max_running):
        self.ids, self.jct, self.solos, self.max_running = ids, jct, solos, max_running

    def __getitem__(self, p: int) -> float:
        return statistics.mean(self.jct[i] for i in self.ids[:p])

    def bound(self, p: int, concurrency: int, kv: int, host_tier: bool,
              max_running: int | None = None):
        """The lower bound on the mean JCT of the first P programs, `concurrency` at a
        time, through a pool of `kv` tokens and the profile's running-batch cap (or
        `max_running`); with a host tier a paused context may come back for nothing."""
        return mean_jct_bound([self.solos[host_tier][i] for i in self.ids[:p]], concurrency,
                              slots=max_running or self.max_running, pool=kv)


def points(grid: dict, knees: dict) -> list[dict]:
    out = []
    for prof in grid["profiles"]:
        for wl in grid["workloads"]:
            k = knees[f"{prof}/{wl}"]["n"]
            for ld in grid["loads"]:
                n = max(1, round(k * LOADS[ld]))
                mean_ctx, max_ctx = context_stats(wl, n)
                for ratio in grid["ratios"]:
                    kv = max(int(n * mean_ctx / ratio), max_ctx + CHUNK)
                    for host in grid["hosts"]:
                        out.append(dict(profile=prof, workload=wl, load=ld, n=n,
                                        ws=ratio, ws_ratio=n * mean_ctx / kv,
                                        host=host, kv=kv))
    return out


def arms_of(pt: dict, candidates: tuple[str, ...] | None = None) -> list[str]:
    """The arms a point runs: every stock arm, the gate(s), the default, and the
    mechanism candidates (``candidates`` in place of MECHS / MECHS_NO_HOST)."""
    if pt["host"] == "none":
        extra = MECHS_NO_HOST if candidates is None else candidates
        return list(dict.fromkeys([*BEST_STOCK, *GATES[:1], DEFAULT, *extra]))
    extra = MECHS if candidates is None else candidates
    return list(dict.fromkeys([*BEST_STOCK, *GATES, DEFAULT, *extra]))


def candidates_of(arms: dict) -> list[str]:
    """The arms of a point that are neither stock, gate nor the default."""
    return [a for a in arms if a not in BEST_STOCK and a not in GATES and a != DEFAULT]


def _reusable(path: Path | None) -> tuple[dict, dict]:
    """Knees and points (by index in the grid) of an earlier summary.json (empty
    without one)."""
    if path is None:
        return {}, {}
    old = expand(json.loads(path.read_text()))
    return old["knees"], {p.get("index", i): p for i, p in enumerate(old["points"])}


def _duplicates(pts: list[dict]) -> dict[int, int]:
    """Points that are the same run as an earlier one (index -> the earlier index): at
    a small N the device pool's floor (one turn's largest context plus a chunk) caps the
    working set / KV that a pool can reach, so larger requested ratios give the same
    pool (the trace at N=4: 2, 4 and 8 all reach 1.9). Reported and counted once."""
    seen, out = {}, {}
    for i, p in enumerate(pts):
        key = tuple(p[k] for k in ("profile", "workload", "load", "n", "kv", "host"))
        if key in seen:
            out[i] = seen[key]
        else:
            seen[key] = i
    return out


def distinct(pts: list[dict]) -> list[dict]:
    """The points that are distinct runs, each with the requested ratios it stands for
    (``ws_requested``)."""
    same = _duplicates(pts)
    keep = {i: dict(p, ws_requested=[p["ws"]]) for i, p in enumerate(pts) if i not in same}
    for i, first in same.items():
        keep[first]["ws_requested"].append(pts[i]["ws"])
    return list(keep.values())


def _same_point(a: dict, b: dict) -> bool:
    return all(a[k] == b[k] for k in ("profile", "workload", "load", "n", "ws", "host"))


def run(grid_name: str, jobs: int, out: Path, only: list[int] | None = None,
        candidates: tuple[str, ...] | None = None, reuse: Path | None = None) -> dict:
    """Run a grid. ``only``: those point indices (the grid's order); ``candidates``:
    the mechanism arms to run beside stock, gate and default; ``reuse``: an earlier
    summary.json whose knees and per-arm results (same point, same arm; the simulator
    is deterministic) stand in for runs, except the candidates' and the default's."""
    grid = GRIDS[grid_name]
    t0 = time.time()
    old_knees, old_pts = _reusable(reuse)
    knees = {}
    for prof in grid["profiles"]:
        for wl in grid["workloads"]:
            knees[f"{prof}/{wl}"] = old_knees.get(f"{prof}/{wl}") or knee(prof, wl, jobs)
            print(f"knee {prof}/{wl}: N={knees[f'{prof}/{wl}']['n']} "
                  f"{knees[f'{prof}/{wl}']['sweep']}", flush=True)
    pts = points(grid, knees)
    if only is not None:
        pts = [dict(pts[i], index=i) for i in only]
    specs, where = [], []
    same = _duplicates(pts)
    for i, pt in enumerate(pts):
        if i in same:  # the same run as an earlier point: its figures are copied
            continue
        old = old_pts.get(pt.get("index", i))
        for arm in arms_of(pt, candidates):
            if (old is not None and _same_point(old, pt) and arm in old["arms"]
                    and arm != DEFAULT and arm not in (candidates or ())):
                pts[i].setdefault("arms", {})[arm] = {
                    k: v for k, v in old["arms"][arm].items()
                    if k in ("mean", "p95", "breakdown")}
                continue
            specs.append(spec(pt["workload"], pt["profile"], arm, pt["n"], pt["kv"],
                              HOSTS[pt["host"]], f"{i}"))
            where.append((i, arm))
    print(f"{len(pts)} points, {len(specs)} runs", flush=True)
    results = sweep(specs, jobs=jobs, progress=True)
    for (i, arm), r in zip(where, results):
        # kept to 3 significant digits, as summary.json stores them, so that the counts
        # of a run and of --report-only agree (arms within ~0.1% of each other tie)
        pts[i].setdefault("arms", {})[arm] = dict(
            mean=_g(r.jct_mean), p95=_g(r.jct_p95),
            breakdown={k: round(v, 2) for k, v in r.breakdown.items()})
        if r.aborted_programs:
            pts[i]["arms"][arm]["aborted"] = r.aborted_programs
    for i, first in same.items():
        pts[i]["arms"] = pts[first]["arms"]
    for pt in pts:
        add_bound(pt)
        floor = floor_of(pt["profile"], pt["workload"])[programs_for(pt["n"])]
        finish(pt, floor)
    res = {"grid": grid_name, "axes": {k: list(v) for k, v in grid.items()},
           "knees": knees, "knee_slowdown": KNEE_SLOWDOWN, "wall_s": time.time() - t0,
           "command": f"python experiments/sim/regime/run_regime.py --grid {grid_name} "
                      f"--jobs {jobs}" + (f" --points {','.join(map(str, only))}"
                                          if only is not None else "")
                      + (f" --arms {','.join(candidates)}" if candidates else "")
                      + (" --reuse summary.json" if reuse else ""), "points": pts}
    (out / "summary.json").write_text(json.dumps(compact(res), separators=(",", ":")))
    return res


FIELDS = ("profile", "workload", "load", "n", "ws", "ws_ratio", "host", "kv", "floor",
          "index", "bound", "bound_by")
PARTS = ("queue_s", "prefill_s", "decode_s", "tool_s")


def add_bound(pt: dict, max_running: int | None = None) -> None:
    """The point's capacity bound on the mean JCT (sim/bounds.py: what the programs
    cost alone, the running-batch cap, the device pool, the engine) and the constraint
    that binds."""
    b = floor_of(pt["profile"], pt["workload"]).bound(
        programs_for(pt["n"]), pt["n"], pt["kv"], pt["host"] != "none", max_running)
    pt["bound"], pt["bound_by"] = _g(b.mean), b.binding


def compact(res: dict) -> dict:
    """The summary as kept in git: one row per point (FIELDS, then each arm's mean and
    p95 JCT, 3 significant digits; null where the arm did not run there), and the
    per-program breakdowns (PARTS) of the default and the best stock arm where the
    default misses a target. ``expand`` rebuilds every ratio from it."""
    arms = list(dict.fromkeys(a for p in res["points"] for a in p["arms"]))
    rows, breakdowns = [], {}
    for i, p in enumerate(res["points"]):
        rows.append([_g(p.get(f, i)) for f in FIELDS]
                    + [[_g(p["arms"][a]["mean"]), _g(p["arms"][a]["p95"])]
                       if a in p["arms"] else None for a in arms])
        bd = {a: [_g(p["arms"][a]["breakdown"][k]) for k in PARTS]
              for a in p["arms"] if p["arms"][a].get("breakdown")}
        if bd:
            breakdowns[str(i)] = bd
    head = {k: v for k, v in res.items() if k != "points"}
    return {**head, "fields": list(FIELDS), "arms": arms, "parts": list(PARTS),
            "rows": rows, "breakdowns": breakdowns}


def expand(data: dict) -> dict:
    pts = []
    for i, row in enumerate(data["rows"]):
        pt = dict(zip(data["fields"], row))
        pt["arms"] = {a: {"mean": v[0], "p95": v[1]}
                      for a, v in zip(data["arms"], row[len(data["fields"]):]) if v}
        for a, bd in data["breakdowns"].get(str(i), {}).items():
            pt["arms"][a]["breakdown"] = dict(zip(data["parts"], bd))
        finish(pt, pt["floor"])
        pts.append(pt)
    return {**{k: v for k, v in data.items() if k not in ("rows", "breakdowns")},
            "points": pts}


def _g(x):
    return float(f"{x:.3g}") if isinstance(x, float) else x


def finish(pt: dict, floor: float) -> None:
    """Best stock arm, gate, default; ratios to the floor and to the best stock arm;
    whether the default meets the issue's targets (0.7x where the host tier cannot hold
    the working set: no host, or a host smaller than working set minus the pool)."""
    arms = pt["arms"]
    best = min(BEST_STOCK, key=lambda a: arms[a]["mean"])
    gate = min((a for a in GATES if a in arms), key=lambda a: arms[a]["mean"])
    d = arms[DEFAULT]
    mechs = candidates_of(arms)
    pt["floor"] = floor
    pt["best_stock"], pt["gate"] = best, gate
    pt["ratio"] = {"mean": d["mean"] / arms[best]["mean"], "p95": d["p95"] / arms[best]["p95"],
                   "gate_mean": arms[gate]["mean"] / arms[best]["mean"]}
    pt["mech_ratio"] = {a: {"mean": arms[a]["mean"] / arms[best]["mean"],
                            "p95": arms[a]["p95"] / arms[best]["p95"]} for a in mechs}
    pt["vs_floor"] = {"best_stock": arms[best]["mean"] / floor,
                      "gate": arms[gate]["mean"] / floor, "default": d["mean"] / floor}
    host = HOSTS[pt["host"]]
    # the working set the pool really has (a requested ratio the pool's floor caps is
    # not reached: distinct()), to one decimal
    ws = round(pt["ws_ratio"], 1)
    holds = host is not None and (1 + host) >= ws
    pt["host_holds_ws"] = holds
    target = TARGET_MEAN if holds or ws <= 1 else TARGET_CONTENDED
    pt["target_mean"] = target

    def met(r: dict) -> bool:
        return r["mean"] <= target and r["p95"] <= TARGET_P95
    pt["met"] = met(pt["ratio"])
    # Can any scheduler meet the mean target? Not where target x the best stock arm's
    # mean lies below the capacity bound (summaries before the bound have none).
    bound_ratios(pt, arms[best]["mean"], d["mean"], target)
    pt["mech_met"] = {a: met(r) for a, r in pt["mech_ratio"].items()}
    # breakdowns only of the default and the best stock arm, where the default misses
    keep = () if pt["met"] else (best, DEFAULT)
    for a in arms:
        if a not in keep:
            arms[a].pop("breakdown", None)


def report(res: dict, out: Path) -> None:
    pts = distinct(res["points"])
    met = sum(p["met"] for p in pts)
    merged = len(res["points"]) - len(pts)
    lines = ["# Regime map: the default vs stock SGLang's best configuration (simulator)", "",
             f"Command: `{res['command']}` ({len(res['points'])} grid points, {len(pts)} "
             f"distinct, {res['wall_s'] / 60:.0f} min). "
             f"Grid `{res['grid']}`: " + "; ".join(f"{k} {v}" for k, v in res["axes"].items())
             + ".", "",
             "Knees (N at which mean JCT with an unbounded pool reaches "
             f"{res['knee_slowdown']}x the floor): "
             + ", ".join(f"{k} N={v['n']}" for k, v in res["knees"].items()) + ".", "",
             f"Targets met (mean <= target, p95 <= {TARGET_P95}x best stock): {met} of "
             f"{len(pts)} distinct points ({merged} grid points are the same run as another: "
             "at a small N the pool's floor, one turn's largest context plus a chunk, caps "
             "the working set / KV a pool reaches; the requested ratios each stands for are "
             "in brackets). The target follows the working set reached. Ratios: the "
             "default's mean / best stock arm's mean (p95 / p95); "
             "x floor: mean JCT / the no-contention floor; x bound: mean JCT / the capacity "
             "bound (sim/bounds.py: no scheduler's mean is lower), with the constraint that "
             "binds (floor, batch: the running-batch cap, kv: the device pool, engine: the "
             "engine's seconds and the pool together, each tool call's context kept or "
             "rebuilt); a target "
             "marked `below bound` lies below it.", "", *bound_lines(pts), "",
             "| profile | workload | load (N) | ws/KV [requested] | host | best stock | default/best mean | "
             "p95 | gate/best | best x floor | gate x floor | default x floor | best x bound "
             "(binds) | target | met | "
             "other arms (as listed above; without a host tier the first): mean, p95 |",
             "|" + "---|" * 16]
    for p in pts:
        lines.append(
            f"| {p['profile']} | {p['workload']} | {p['load']} ({p['n']}) | "
            f"{p['ws_ratio']:.2g} [{', '.join(f'{w:g}' for w in p['ws_requested'])}] | "
            f"{p['host']} | {p['best_stock']} | {p['ratio']['mean']:.2f} | "
            f"{p['ratio']['p95']:.2f} | {p['ratio']['gate_mean']:.2f} ({p['gate']}) | "
            f"{p['vs_floor']['best_stock']:.2f} | {p['vs_floor']['gate']:.2f} | "
            f"{p['vs_floor']['default']:.2f} | {_x_bound(p)} | {p['target_mean']}"
            f"{'' if p.get('feasible', True) else ' (below bound)'} | "
            f"{'yes' if p['met'] else 'no'} | "
            + "; ".join(f"{r['mean']:.2f}, {r['p95']:.2f}" + ("" if p["mech_met"][a] else " (no)")
                        for a, r in p["mech_ratio"].items()) + " |")
    mech_lines = []
    for a in dict.fromkeys(a for p in pts for a in p["mech_met"]):
        got = [p["mech_met"][a] for p in pts if a in p["mech_met"]]
        means = sorted(p["mech_ratio"][a]["mean"] for p in pts if a in p["mech_ratio"])
        mech_lines.append(f"`{a}`: targets met at {sum(got)} of {len(got)} points; mean / "
                          f"best stock median {statistics.median(means):.2f}, worst "
                          f"{means[-1]:.2f}.  ")
    means = sorted(p["ratio"]["mean"] for p in pts)
    mech_lines.insert(0, f"`{DEFAULT}` (the default): mean / best stock median "
                         f"{statistics.median(means):.2f}, worst {means[-1]:.2f}.  ")
    lines[8:8] = mech_lines + [""]
    missed = [p for p in pts if not p["met"]]
    if missed:
        lines += ["", "## Where the default misses: per-program breakdown (s), default / best "
                  "stock arm", "",
                  "| point | queue | prefill+reload | decode | tool | mean JCT | floor |",
                  "|---|---|---|---|---|---|---|"]
        for p in missed:
            name = (f"{p['profile']}/{p['workload']}/{p['load']}/ws{p['ws']:g}/{p['host']}"
                    f" ({p['best_stock']})")
            d = p["arms"][DEFAULT].get("breakdown", {})
            b = p["arms"][p["best_stock"]].get("breakdown", {})
            lines.append(f"| {name} | " + " | ".join(
                f"{d.get(k, 0):.0f} / {b.get(k, 0):.0f}" for k in PARTS) + " | "
                f"{p['arms'][DEFAULT]['mean']:.0f} / {p['arms'][p['best_stock']]['mean']:.0f}"
                f" | {p['floor']:.0f} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")


def bound_ratios(pt: dict, best: float, default: float, target: float) -> None:
    """The best stock arm's and the default's means over the point's capacity bound,
    and whether `target` x the best stock mean is at or above it (a target no
    scheduler meets otherwise). Summaries from before the bound have none."""
    if pt.get("bound"):
        pt["vs_bound"] = {"best_stock": best / pt["bound"], "default": default / pt["bound"]}
        pt["feasible"] = target * best >= pt["bound"]


def _x_bound(p: dict) -> str:
    return (f"{p['vs_bound']['best_stock']:.2f} ({p['bound_by']})" if "vs_bound" in p
            else "-")


def bound_lines(pts: list[dict]) -> list[str]:
    """How many missed mean targets no scheduler could meet (the capacity bound)."""
    bounded = [p for p in pts if "feasible" in p]
    if not bounded:
        return ["(No capacity bound in this summary: `--add-bounds` adds it.)"]
    missed = [p for p in bounded if p["ratio"]["mean"] > p["target_mean"]]
    below = [p for p in missed if not p["feasible"]]
    by = {k: sum(p["bound_by"] == k for p in below) for k in ("floor", "batch", "kv", "engine")}
    head = [p["vs_bound"]["best_stock"] for p in missed]
    # a check on the bound itself: no arm's mean below it (3 significant digits kept)
    under = sum(min(a["mean"] for a in p["arms"].values()) < p["bound"] * 0.995
                for p in bounded)
    return [f"Capacity bound: every arm's mean is at or above it at "
            f"{len(bounded) - under} of {len(bounded)} points. "
            f"Of the {len(missed)} points where the default's mean misses "
            f"its target, {len(below)} have a target below the bound (no scheduler meets "
            "it; binding: " + ", ".join(f"{k} {v}" for k, v in by.items()) + "). "
            + (f"At the misses the best stock arm runs at x{min(head):.2f}-x{max(head):.2f}"
               f" the bound (median x{statistics.median(head):.2f})." if head else "")]


def add_bounds(res: dict) -> dict:
    """An earlier summary with each point's capacity bound (re)computed, and its ratios."""
    for pt in res["points"]:
        add_bound(pt)
        finish(pt, pt["floor"])
    return res


def heatmap(res: dict, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = distinct(res["points"])  # a collapsed ratio's cell stays blank
    rows = sorted({(p["profile"], p["workload"], p["load"]) for p in pts},
                  key=lambda r: (r[0], r[1], list(LOADS).index(r[2])))
    cols = sorted({(p["host"], p["ws"]) for p in pts},
                  key=lambda c: (list(HOSTS).index(c[0]), c[1]))
    grid = [[math.nan] * len(cols) for _ in rows]
    for p in pts:
        grid[rows.index((p["profile"], p["workload"], p["load"]))][
            cols.index((p["host"], p["ws"]))] = p["ratio"]["mean"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.42 * len(cols), 1.0 + 0.3 * len(rows)))
    im = ax.imshow(grid, cmap="RdYlGn_r", vmin=0.3, vmax=1.7, aspect="auto")
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            if not math.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(cols)), [f"{h}\nws{r:g}" for h, r in cols], fontsize=6)
    ax.set_yticks(range(len(rows)), [f"{a}/{b}/{c}" for a, b, c in rows], fontsize=6)
    ax.set_title("default mean JCT / best stock arm's (host tier, working set / KV; "
                 "blank: not reachable at that N)", fontsize=8)
    fig.colorbar(im, ax=ax, shrink=0.6)
    fig.tight_layout()
    save_png(fig, out / "regime.png", dpi=60)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", choices=tuple(GRIDS), default="reduced")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--points", help="comma-separated point indices of the grid (the "
                    "order of its summary.json rows) to run instead of every point")
    ap.add_argument("--arms", help="comma-separated mechanism arms (sim/policies.py) to "
                    "run beside stock, gate and default, in place of the usual candidates")
    ap.add_argument("--reuse", type=Path, help="an earlier summary.json of the same grid: "
                    "its knees, and its results of every arm but the default and --arms")
    ap.add_argument("--add-bounds", action="store_true", help="with --report-only: "
                    "(re)compute each point's capacity bound first (summary.json rewritten)")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    only = [int(x) for x in a.points.split(",")] if a.points else None
    cands = tuple(a.arms.split(",")) if a.arms else None
    res = (expand(json.loads((a.out / "summary.json").read_text())) if a.report_only
           else run(a.grid, a.jobs, a.out, only, cands, a.reuse))
    if a.report_only and a.add_bounds:
        res = add_bounds(res)
        (a.out / "summary.json").write_text(json.dumps(compact(res), separators=(",", ":")))
    report(res, a.out)
    heatmap(res, a.out)
    print((a.out / "results.md").read_text()[:3000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
