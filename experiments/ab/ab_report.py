"""The A/B report: tables per workload and load, ratios vs stock LRU (arms run back to
back in one invocation), the targets met or missed, the overlay's own counters, plots."""

from __future__ import annotations

from pathlib import Path

from matrix import BASELINE, METHOD

from sglang_continuum.replay.report import markdown_table, plot_jct_cdf, plot_vs_load

COLS = (
    ("load", "load", "{}"), ("arm", "arm", "{}"), ("completed", "done", "{}"),
    ("jct_mean_s", "JCT mean s", "{:.1f}"), ("jct_p50_s", "p50", "{:.1f}"),
    ("jct_p90_s", "p90", "{:.1f}"), ("jct_p95_s", "p95", "{:.1f}"),
    ("jct_p99_s", "p99", "{:.1f}"), ("programs_per_min", "prog/min", "{:.2f}"),
    ("output_tokens_per_s", "out tok/s", "{:.1f}"), ("cache_hit_ratio", "hit", "{:.2f}"),
    ("ttft_mean_s", "TTFT s", "{:.2f}"), ("queue_mean_s", "queue s", "{:.2f}"),
    ("retractions", "retract", "{}"), ("wall_s", "wall s", "{:.0f}"),
    ("server_cpu_s", "server CPU s", "{:.0f}"), ("load_avg_start", "load avg", "{:.1f}"),
)
STATUS_KEYS = ("locks_set", "locks_consumed", "locks_lapsed", "locks_released_pressure",
               "locks_refused", "refused_by_reason", "queue_delay_s", "eta",
               "duration_samples", "tau_counts")


def _ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def _verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def _fmt(x, f="{:.2f}"):
    return "-" if x is None else f.format(x)


def _rows(runs, wl):
    keys = ("arm", "load", "wall_s", "server_cpu_s", "load_avg_start")
    return [{**r["summary"], **{k: r.get(k) for k in keys}}
            for r in runs if r["workload"] == wl]


def _by(runs):
    return {(r["workload"], r["load"], r["arm"]): r for r in runs}


def ratio_table(runs, workloads, loads, arms) -> str:
    idx = _by(runs)
    out = ["| workload | load | arm | mean JCT / stock | p99 / stock | throughput / stock |",
           "|---|---|---|---|---|---|"]
    for wl in workloads:
        for ld in loads:
            base = idx.get((wl, ld, BASELINE))
            if base is None:
                continue
            b = base["summary"]
            for arm in arms:
                r = idx.get((wl, ld, arm))
                if r is None or arm == BASELINE:
                    continue
                s = r["summary"]
                cells = [_fmt(_ratio(s[k], b[k]))
                         for k in ("jct_mean_s", "jct_p99_s", "programs_per_min")]
                out.append(f"| {wl} | {ld} | {arm} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def targets(runs, workloads, light, contended) -> list[str]:
    idx, lines = _by(runs), []
    for wl in workloads:
        m, b = idx.get((wl, contended, METHOD)), idx.get((wl, contended, BASELINE))
        if m and b:
            ms, bs = m["summary"], b["summary"]
            r = _ratio(ms["jct_mean_s"], bs["jct_mean_s"])
            met = r is not None and r <= 0.5
            lines.append(f"- {wl}, {contended}: mean JCT {METHOD}/stock = {_fmt(r)} "
                         f"(target <= 0.50): {_verdict(met)}")
            others = [x["summary"]["jct_p99_s"] for (w, ld, a), x in idx.items()
                      if w == wl and ld == contended and a != METHOD
                      and x["summary"]["jct_p99_s"] is not None]
            best = min(others) if others else None
            ok = ms["jct_p99_s"] is not None and best is not None and ms["jct_p99_s"] <= best
            lines.append(f"- {wl}, {contended}: p99 JCT {METHOD} "
                         f"{_fmt(ms['jct_p99_s'], '{:.1f}')} s vs best other arm "
                         f"{_fmt(best, '{:.1f}')} s: {_verdict(ok)}")
            t = _ratio(ms["programs_per_min"], bs["programs_per_min"])
            lines.append(f"- {wl}, {contended}: throughput {METHOD}/stock = {_fmt(t)} "
                         f"(target >= 1.00): {_verdict(t is not None and t >= 1.0)}")
        m, b = idx.get((wl, light, METHOD)), idx.get((wl, light, BASELINE))
        if m and b:
            r = _ratio(m["summary"]["jct_mean_s"], b["summary"]["jct_mean_s"])
            ok = r is not None and abs(r - 1) <= 0.03
            lines.append(f"- {wl}, {light}: mean JCT {METHOD}/stock = {_fmt(r, '{:.3f}')} "
                         f"(target within 3%): {_verdict(ok)}")
    return lines


def status_lines(runs) -> list[str]:
    out = ["| workload | load | arm | " + " | ".join(STATUS_KEYS) + " |",
           "|" + "---|" * (3 + len(STATUS_KEYS))]
    for r in runs:
        st = r.get("status") or {}
        if st:
            cells = [str(st.get(k, "-")) if not isinstance(st.get(k), float)
                     else f"{st[k]:.2f}" for k in STATUS_KEYS]
            head = f"| {r['workload']} | {r['load']} | {r['arm']} | "
            out.append(head + " | ".join(cells) + " |")
    return out


def write_report(meta: dict, runs: list[dict], out_dir: Path) -> str:
    workloads = [w["name"] for w in meta["workloads"]]
    loads = [ld["name"] for ld in meta["loads"]]
    arms = [a["name"] for a in meta["arms"]]
    conc = {ld["name"]: ld["concurrency"] for ld in meta["loads"]}
    md = ["# A/B matrix: Continuum overlay vs stock SGLang (CPU, tiny model)", "",
          f"Command: `{meta['command']}`", "",
          f"Started {meta['started']}, wall {meta.get('wall_s', 0) / 60:.1f} min. "
          f"KV pool (--max-total-tokens) {meta['pool']} for every arm.", "",
          "Machine:", "```", meta["machine"]["lscpu"].rstrip(), meta["machine"]["free"].rstrip(),
          f"start: {meta['machine']['uptime_start']}", f"end:   {meta.get('uptime_end', '')}",
          "```", "", f"Prefill profile passed to the overlay arms: `{meta.get('prefill_profile')}`",
          "", "Arms:", ""]
    md += [f"- `{a['name']}`: {a['note']} (`{' '.join(a['flags'])}`)" for a in meta["arms"]]
    md += ["", f"Overlay flags common to the overlay arms: `{' '.join(meta['overlay_common'])}`",
           "", "Workloads (scaling knobs):", ""]
    md += [f"- `{w['name']}` ({w['source']}): {w['scaling']}" for w in meta["workloads"]]
    md += ["", "Loads (closed loop): " + ", ".join(
        f"{ld['name']} = {ld['concurrency']} at a time, {ld['programs']} programs"
        for ld in meta["loads"]), ""]
    for wl in workloads:
        md += [f"## {wl}", "", markdown_table(_rows(runs, wl), COLS), ""]
    md += ["## Ratios vs stock LRU (same invocation)", "",
           ratio_table(runs, workloads, loads, arms), "", "## Targets", ""]
    md += targets(runs, workloads, loads[0], loads[-1])
    md += ["", "## Overlay state at the end of each run", "",
           "Last `continuum status` line; counters are cumulative over the arm's server.", ""]
    md += status_lines(runs)
    idx = _by(runs)
    for wl in workloads:
        for ld in loads:
            series = {a: idx[(wl, ld, a)]["jct"] for a in arms if (wl, ld, a) in idx}
            if series:
                plot_jct_cdf(series, out_dir / f"jct_cdf_{wl}_{ld}.png",
                             f"{wl}, {ld} (concurrency {conc[ld]}), pool {meta['pool']}")
        pts = {a: [(conc[ld], idx[(wl, ld, a)]["summary"]["jct_mean_s"],
                    idx[(wl, ld, a)]["summary"]["jct_p95_s"]) for ld in loads if (wl, ld, a) in idx]
               for a in arms}
        plot_vs_load(pts, out_dir / f"jct_vs_load_{wl}.png", "programs at a time (concurrency)",
                     f"{wl}: mean (solid) and p95 (dashed) JCT, pool {meta['pool']}")
    text = "\n".join(md) + "\n"
    (out_dir / "ab_results.md").write_text(text)
    return text
