"""GPU projection of the policies with the simulator.

Mean and p95 JCT vs program arrival rate (jobs/s) for the SWE-Bench-like, BFCL-like
and shared-trace workloads, every policy, on the roofline profiles; and the JCT gain
vs turns per program (the paper's turn-scaling result). Writes PNGs, a markdown
report and every summary as JSON under ``--out``.

    .venv/bin/python experiments/sim/run_gpu_projection.py --jobs 2
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sglang_continuum.sim import POLICIES, RunSpec, sweep  # noqa: E402
from sglang_continuum.sim.report import markdown_table  # noqa: E402

# Rates bracket each workload's knee on Llama-3.1-8B/H100 (70B: half of them).
RATES_8B = {
    "swebench": (0.25, 0.5, 0.75, 1.0, 1.5, 2.0),
    "bfcl": (0.1, 0.2, 0.3, 0.4, 0.5, 0.75),
    "trace": (0.008, 0.01, 0.012, 0.014, 0.016, 0.02),
}
PROFILES = {"llama3.1-8b-h100": 1.0, "llama3.1-70b-4xh100": 0.5}
TURNS = (5, 10, 20, 40, 60)
TURN_RATE_X_TURNS = 7.5  # jobs/s * turns: the same turn arrival rate at every point
# Context growth per turn held at the SWE-Bench preset's (70,126 tokens over 10.9 turns):
# prompts summed over a program = GROWTH * turns * (turns - 1).
GROWTH = 70_126 / (10.9 * 9.9)
BASELINE, METHOD = "lru", "continuum"


def grid(programs: int, seed: int) -> list[RunSpec]:
    specs = []
    for profile, scale in PROFILES.items():
        for workload, rates in RATES_8B.items():
            n = None if workload == "trace" else programs
            for rate in rates:
                for pol in POLICIES:
                    specs.append(RunSpec(workload, profile, pol, round(rate * scale, 6),
                                         seed, n))
    return specs


def turn_grid(programs: int, seed: int) -> list[RunSpec]:
    return [RunSpec("swebench", "llama3.1-8b-h100", pol, TURN_RATE_X_TURNS / t, seed,
                    programs, overrides=(("turns_mean", float(t)), ("turns_std", 0.2 * t),
                                         ("tokens_mean", GROWTH * t * (t - 1)),
                                         ("tokens_std", 0.28 * GROWTH * t * (t - 1))),
                    label=f"swebench-{t}turns")
            for t in TURNS for pol in POLICIES]


def plot_rates(results, profile: str, workload: str, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for metric, ax in zip(("jct_mean", "jct_p95"), axes):
        for pol in POLICIES:
            rows = sorted((r.rate, getattr(r, metric)) for r in results
                          if r.profile == profile and r.workload == workload and r.policy == pol)
            ax.plot(*zip(*rows), marker="o", label=pol,
                    linewidth=2.5 if pol == METHOD else 1.2)
        ax.set_xlabel("program arrival rate (jobs/s)")
        ax.set_ylabel(f"{'mean' if metric == 'jct_mean' else 'p95'} JCT (s)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{workload} on {profile} (simulated)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def by(results, **kw):
    return {r.policy: r for r in results if all(getattr(r, k) == v for k, v in kw.items())}


def gain_table(results, title: str, keys) -> list[str]:
    lines = [f"### {title}", "",
             "| point | " + " | ".join(f"{p}" for p in POLICIES) + " | lru/continuum | "
             "continuum/oracle |", "|" + "---|" * (len(POLICIES) + 3)]
    for label, kw in keys:
        row = by(results, **kw)
        cells = [f"{row[p].jct_mean:.1f}" for p in POLICIES]
        g = row[BASELINE].jct_mean / row[METHOD].jct_mean
        o = row[METHOD].jct_mean / row["oracle"].jct_mean
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {g:.2f}x | {o:.3f} |")
    return lines + [""]


def plot_turns(results, path: Path) -> list[str]:
    fig, ax = plt.subplots(figsize=(6, 4))
    lines = ["### JCT gain over lru vs turns per program (swebench-like, 8B/H100, "
             f"rate = {TURN_RATE_X_TURNS}/turns jobs/s)", "",
             "| turns | " + " | ".join(POLICIES) + " |", "|" + "---|" * (len(POLICIES) + 1)]
    gains = {p: [] for p in POLICIES}
    for t in TURNS:
        row = by(results, workload=f"swebench-{t}turns")
        for p in POLICIES:
            gains[p].append(row[BASELINE].jct_mean / row[p].jct_mean)
        lines.append(f"| {t} | " + " | ".join(f"{gains[p][-1]:.2f}x" for p in POLICIES) + " |")
    for p in POLICIES:
        if p != BASELINE:
            ax.plot(TURNS, gains[p], marker="o", label=p, linewidth=2.5 if p == METHOD else 1.2)
    ax.set_xlabel("mean turns per program")
    ax.set_ylabel("mean JCT gain over lru (x)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return lines + [""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", type=int, default=300, help="synthetic programs per run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = sweep(grid(args.programs, args.seed), jobs=args.jobs)
    turns = sweep(turn_grid(200, args.seed), jobs=args.jobs)
    wall = time.perf_counter() - start
    report = ["# Simulated GPU projection", "",
              f"Generated by `experiments/sim/run_gpu_projection.py --programs {args.programs} "
              f"--seed {args.seed}` in {wall:.0f} s. Mean JCT in seconds; gains are "
              "lru JCT / policy JCT. Roofline profiles, not measurements.", ""]
    for profile, scale in PROFILES.items():
        for workload, rates in RATES_8B.items():
            plot_rates(results, profile, workload, args.out / f"jct_{profile}_{workload}.png")
            keys = [(f"{r * scale:g}/s", dict(profile=profile, workload=workload,
                                              rate=round(r * scale, 6))) for r in rates]
            report += gain_table(results, f"{workload} on {profile}: mean JCT (s)", keys)
    report += plot_turns(turns, args.out / "turn_scaling.png")
    report += ["## All runs", "", markdown_table(results + turns), ""]
    (args.out / "results.md").write_text("\n".join(report))
    rows = [r.to_dict() for r in results + turns]
    for row in rows:  # per-tool estimates of every run would dominate the file
        row["policy_snapshot"].pop("tools", None)
    # One run per line: diffable, a third of the size of an indented dump.
    (args.out / "summaries.json").write_text("[\n" + ",\n".join(json.dumps(
        row, default=lambda x: None if isinstance(x, float) and math.isnan(x) else str(x))
        for row in rows) + "\n]\n")
    reqs = sum(r.turns for r in results + turns)
    print("\n".join(report[:-3]))
    print(f"{len(results) + len(turns)} runs, {reqs} simulated requests, {wall:.0f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
