"""The simulator's host tier against the live host-tier campaigns (``host-*/``).

    python experiments/live/host_fidelity.py [--out host-fidelity.md]

Raw runs are not kept, so each campaign is read from what it commits: its
``calibration.json`` (the testbed's measured step profile, the tool-gap time scale) and
``summary.json`` (live medians over repeats). Every closed-loop cell (contended, solo)
and every arm the simulator has a rule for is replayed in the simulator with the arm's
host tier: its size (``--hicache-ratio`` x the pool), its write policy
(``--hicache-write-policy``), reloads and write-backs over the paced link
(``calibrate.host_link``; these campaigns ran with ``--host-link paced``, the default).
Target: mean JCT within 10%.
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

import arms as arms_mod  # noqa: E402
import calibrate as calibrate_mod  # noqa: E402
from sim_fidelity import JCT_TOL, trace_lines  # noqa: E402

from sglang_continuum.sim.sweep import RunSpec, sweep  # noqa: E402
from sglang_continuum.workload import load  # noqa: E402

# live arm -> simulator policy of the same rule. The main cell (this folder's own
# calibration.json and summary.json) ran today's rules; the host-* campaigns ran
# defaults the simulator's "continuum" no longer is, so only their stock arms are
# replayed. Arms the simulator has no rule for are left out.
STOCK_POLICY = {"stock-lru": "lru", "stock-lpm": "lpm", "stock-hrrn": "hrrn",
                "stock-spf": "spf", "stock-sessions": "radix_sessions",
                "stock-hicache-wt": "lru", "stock-hicache-wb": "lru",
                "stock-hicache-lpm": "lpm", "stock-hicache-hrrn": "hrrn",
                "stock-hicache-spf": "spf", "stock-hicache-sessions": "radix_sessions",
                "stock-hicache-lpm-h1": "lpm", "stock-hicache-spf-h1": "spf"}
CURRENT_POLICY = {**STOCK_POLICY, "overlay-default": "continuum",
                  "overlay-hicache-fits-wb-drop": "continuum",
                  "overlay-hicache-fits-wb-drop-h1": "continuum",
                  "overlay-hicache-fits-wb-drop-h05": "continuum",
                  "overlay-hicache-lpm": "continuum_order_lpm",
                  "overlay-hicache-lpm-h1": "continuum_order_lpm"}
MAIN = "main cell"
CONCURRENCY = {"contended": 8, "solo": 1}


def host_of(arm: str) -> tuple[bool, float, bool]:
    """(host tier, host pool / device pool, write-through) from the arm's server flags."""
    flags = list(arms_mod.arm(arm).flags)
    if "--enable-hierarchical-cache" not in flags:
        return False, 0.0, False
    ratio = float(flags[flags.index("--hicache-ratio") + 1])
    policy = flags[flags.index("--hicache-write-policy") + 1]
    return True, ratio, policy == "write_through"


def compare(campaigns: list[Path]) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for camp in campaigns:
            name = MAIN if camp == HERE else camp.name
            policy = CURRENT_POLICY if camp == HERE else STOCK_POLICY
            cal = json.loads((camp / "calibration.json").read_text())
            summ = json.loads((camp / "summary.json").read_text())
            link = calibrate_mod.host_link(cal, cal["preset"])
            prof = Path(tmp) / f"{camp.name}-profile.json"
            prof.write_text(json.dumps({**cal["sim_profile"], "reload_tokens_per_s":
                                        link["bytes_per_s"] / link["kv_bytes_per_token"]}))
            setup = calibrate_mod.scaled(arms_mod.FULL, cal["time_scale"])
            programs = load("trace", 0, setup.scaling)
            wl = Path(tmp) / f"{camp.name}-trace.jsonl"
            wl.write_text(trace_lines(programs))
            tool = statistics.mean(sum(t.gap_s for t in p.turns) for p in programs)
            for cell, entry in summ["cells"].items():
                ld = cell.split("/", 1)[1]
                if ld not in CONCURRENCY:
                    continue
                names = [a for a in entry["arms"] if a in policy]
                specs = []
                for a in names:
                    host, ratio, wt = host_of(a)
                    specs.append(RunSpec(str(wl), str(prof), policy[a], 0.0, 0, None, host,
                                         label=ld, concurrency=CONCURRENCY[ld],
                                         host_ratio=ratio if host else float("inf"),
                                         write_through=wt))
                for a, spec, s in zip(names, specs, sweep(specs, progress=False)):
                    live = entry["arms"][a]["jct_mean_s"]
                    err = s.jct_mean / live["median"] - 1
                    out[f"{name} {cell} {a}"] = dict(
                        campaign=name, cell=cell, arm=a, sim_policy=spec.policy,
                        host_ratio=spec.host_ratio if spec.host_tier else None,
                        write_through=spec.write_through if spec.host_tier else None,
                        live_jct_mean_s=live, sim_jct_mean_s=s.jct_mean, jct_error=err,
                        live_hit=entry["arms"][a]["cache_hit_ratio"]["median"],
                        sim_hit=s.cache_hit_ratio, tool_s=tool,
                        within=abs(err) <= JCT_TOL)
    return out


def markdown(rows: dict) -> str:
    ok = sum(r["within"] for r in rows.values())
    errs = [abs(r["jct_error"]) for r in rows.values()]
    lines = ["# Simulator host tier vs the live host-tier campaigns", "",
             "Command: `python experiments/live/host_fidelity.py`. Each campaign's measured "
             "step profile and time scale; host pool = ratio x the 6,000-token pool; reloads "
             "and write-backs over the paced link. Target: mean JCT within 10%. The main "
             "cell (this folder's `summary.json`) is replayed arm by arm with today's "
             "rules; the `host-*` campaigns ran earlier defaults of the overlay, so only "
             "their stock arms are.", "",
             f"Within 10%: {ok} of {len(rows)}; median |error| "
             f"{statistics.median(errs):.0%}, largest {max(errs):.0%}.", "",
             "| campaign | cell | live arm | sim | host | live mean JCT (min-max) | sim | "
             "error | live hit | sim hit | within |", "|" + "---|" * 11]
    for r in rows.values():
        j = r["live_jct_mean_s"]
        host = ("-" if r["host_ratio"] is None else
                f"x{r['host_ratio']:g} {'wt' if r['write_through'] else 'wb'}")
        lines.append(f"| {r['campaign']} | {r['cell']} | {r['arm']} | {r['sim_policy']} | "
                     f"{host} | {j['median']:.1f} ({j['min']:.1f}-{j['max']:.1f}) | "
                     f"{r['sim_jct_mean_s']:.1f} | {r['jct_error']:+.0%} | "
                     f"{r['live_hit']:.2f} | {r['sim_hit']:.2f} | "
                     f"{'yes' if r['within'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE / "host-fidelity.md")
    a = ap.parse_args(argv)
    # a campaign that ran on the main calibration of its day (no calibration.json of
    # its own; the main one has been remeasured since) cannot be replayed
    rows = compare([HERE] + sorted(p.parent for p in HERE.glob("host-*/summary.json")
                                   if (p.parent / "calibration.json").exists()))
    text = markdown(rows)
    a.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
