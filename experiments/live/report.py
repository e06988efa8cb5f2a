"""results/*.json of experiments/live/run.py -> summary.json, results.md and PNGs.

Per cell (workload, load) and arm: each statistic is the median over repeats, with
min and max; ``ratio_vs_best_stock`` compares the overlay's default arm with the stock
arm of lowest median mean JCT. A difference counts only when the min/max ranges do
not overlap (``ranges_separate``). The per-turn breakdown splits a program's time into
queueing, prefill (time to first token after queueing: the missed tokens' prefill),
decode (first to last token) and tool time (the rest of its JCT).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections import defaultdict
from pathlib import Path

import server_steps
from arms import ARMS, BATCH_CAP, DEFAULT_ARM

from sglang_continuum.replay.plots import save_png
from sglang_continuum.sim.bounds import Solo, mean_jct_bound

STATS = ("jct_mean_s", "jct_p95_s", "programs_per_min", "cache_hit_ratio")
PARTS = ("queue_s", "prefill_s", "decode_s", "tool_s", "missed_tokens")


def breakdown(run: dict) -> dict:
    """Per-program means of the time spent in each part (and missed prompt tokens)."""
    per = defaultdict(list)
    for p in run["programs"]:
        if not p["complete"]:
            continue
        turns = p["turns"]
        q = sum(t["queue_s"] for t in turns)
        pf = sum(max(0.0, t["ttft_s"] - t["queue_s"]) for t in turns)
        dec = sum(t["e2e_s"] - t["ttft_s"] for t in turns)
        per["queue_s"].append(q)
        per["prefill_s"].append(pf)
        per["decode_s"].append(dec)
        per["tool_s"].append(p["jct_s"] - sum(t["e2e_s"] for t in turns))
        per["missed_tokens"].append(sum(t["prompt_tokens"] - t["cached_tokens"] for t in turns))
    return {k: statistics.mean(v) for k, v in per.items() if v}


def _spread(xs: list) -> dict:
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"median": None, "min": None, "max": None}
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def summarize(runs: list[dict]) -> dict:
    cells = defaultdict(lambda: defaultdict(list))
    for r in runs:
        cells[f"{r['live'].get('workload', 'trace')}/{r['live']['load']}"][
            r["live"]["arm"]].append(r)
    out = {}
    for cell, by_arm in sorted(cells.items()):
        arms = {}
        for name, rs in by_arm.items():
            a = {k: _spread([r["summary"][k] for r in rs]) for k in STATS}
            bd = [breakdown(r) for r in rs]
            a["breakdown"] = {k: statistics.median([b[k] for b in bd if k in b])
                              for k in PARTS if any(k in b for b in bd)}
            a["reps"] = len(rs)
            a["completed"] = [r["summary"]["completed"] for r in rs]
            a["programs"] = rs[0]["summary"]["programs"]
            a["loadavg"] = [[r["live"]["loadavg_before"][0], r["live"]["loadavg_after"][0]]
                            for r in rs]
            a["overlay_counters"] = [r["live"]["overlay_counters"] for r in rs]
            a["jct_s"] = [p["jct_s"] for r in rs for p in r["programs"] if p["complete"]]
            if any("plain" in r for r in rs):
                a["plain"] = {k: _spread([r.get("plain", {}).get(k) for r in rs])
                              for k in ("ttft_mean_s", "ttft_p99_s", "requests")}
            arms[name] = a
        entry = {"arms": arms}
        best = _best_stock(arms)
        if best and DEFAULT_ARM in arms and arms[DEFAULT_ARM]["jct_mean_s"]["median"]:
            d, b = arms[DEFAULT_ARM], arms[best]
            entry["best_stock"] = best
            entry["ratio_vs_best_stock"] = _ratios(d, b)
            # With one repeat a range is a point: nothing to separate.
            entry["ranges_separate"] = None if min(d["reps"], b["reps"]) < 2 else (
                d["jct_mean_s"]["max"] < b["jct_mean_s"]["min"]
                or d["jct_mean_s"]["min"] > b["jct_mean_s"]["max"])
            # The default runs without a host tier: its like-for-like baseline is the best
            # stock arm without one (issue 11's arm set); the host-tier pair is compared
            # in _extra_ratios (issue 15).
            # The overlay's arms with a host tier against the same best stock arm.
            entry["ratio_vs_best_stock_by_arm"] = {
                n: _ratios(a, b) for n, a in arms.items()
                if _arm(n).overlay and a["jct_mean_s"]["median"]}
            device = _best_stock(arms, host_tier=False)
            if device and "hicache" in best:
                entry["best_stock_without_host_tier"] = device
                entry["ratio_vs_best_stock_without_host_tier"] = _ratios(d, arms[device])
        _extra_ratios(entry, arms)
        # The targets are contention's: the solo cell (each program alone) is the floor
        # the other cells are read against, not a cell with a target of its own.
        by_host = None if cell.endswith("/solo") else _by_host(arms)
        if by_host:
            entry["by_host_tier"] = by_host
        loads = [x for a in arms.values() for pair in a["loadavg"] for x in pair]
        entry["loadavg_1min"] = {"min": min(loads), "max": max(loads)} if loads else None
        out[cell] = entry
    _floors(out, cells)
    return out


def _floors(out: dict, cells: dict) -> None:
    """Issue 15: the no-contention floor of a cell, from the solo cell (each program
    alone on the server): the mean over the cell's programs of each one's median solo
    JCT. Contention only adds to a program's time (the solo runs keep the prefixes the
    programs share cached, as a busy server does), so this is how low a scheduler could
    bring the mean; its ratio to the best stock arms says how much of it any could remove."""
    for workload in {c.split("/", 1)[0] for c in cells}:
        _floor(out, cells, workload)


def _floor(out: dict, cells: dict, workload: str) -> None:
    solo = defaultdict(list)
    for rs in cells.get(f"{workload}/solo", {}).values():
        for r in rs:
            for p in r["programs"]:
                if p["complete"]:
                    solo[p["program_id"]].append(p["jct_s"])
    if not solo:
        return
    for cell, by_arm in cells.items():
        ids = {p.get("program_id") for rs in by_arm.values() for r in rs for p in r["programs"]}
        if (cell == f"{workload}/solo" or not cell.startswith(f"{workload}/") or not ids
                or not ids <= solo.keys()):
            continue
        floor = statistics.mean(statistics.median(solo[i]) for i in ids)
        entry = out[cell]
        # Over the best stock arm, and the best with HiCache where that is another arm.
        best = {_best_stock(entry["arms"], host_tier=h) for h in (None, True)} - {None}
        best |= {e["best_stock"] for e in entry.get("by_host_tier", {}).values()}
        entry["floor"] = {"jct_mean_s": floor, "programs": len(ids), "vs": {
            n: floor / _median_jct(entry["arms"], n) for n in sorted(best)},
            # every arm's distance to the floor: its median mean JCT over the floor
            "x_floor": {n: jct / floor for n in entry["arms"]
                        if (jct := _median_jct(entry["arms"], n))}}
        _bounds(entry, by_arm, cells[f"{workload}/solo"], ids)


def _solo_figures(solo_cell: dict) -> dict:
    """Per program of the solo cell, each run's (JCT, seconds in the server: end to end
    less queueing over its turns, token-seconds its contexts held the pool while
    decoding: prompt tokens times first to last token)."""
    by = defaultdict(list)
    for rs in solo_cell.values():
        for r in rs:
            for p in r["programs"]:
                if p["complete"]:
                    turns = p["turns"]
                    by[p["program_id"]].append((
                        p["jct_s"],
                        sum((t.get("server_e2e_s") or t["e2e_s"]) - (t.get("queue_s") or 0)
                            for t in turns),
                        sum(t["prompt_tokens"] * max(0.0, t["e2e_s"] - t["ttft_s"])
                            for t in turns)))
    return by


def _bounds(entry: dict, by_arm: dict, solo_cell: dict, ids: set) -> None:
    """Per host-pool cell, the capacity bound on the mean JCT (sim/bounds.py) for the
    best stock arm's server (its running-batch cap, its device pool, the cell's programs
    at a time): no scheduler's mean is lower. Each program's figures are the least over
    the solo runs (a noisy run only loosens the bound). Where target x the best stock
    mean lies below it, the target cannot be met on that server."""
    figures = _solo_figures(solo_cell)
    if not ids <= figures.keys():
        return
    solos = [Solo(*(min(x[i] for x in figures[p]) for i in range(3))) for p in sorted(ids)]
    # The engine's service rate as the cell's runs measured it (engine_rate), crediting
    # each program its most solo seconds; only runs that prefilled no more than alone
    # count (a run that rebuilt evicted prefixes did work the solo seconds leave out,
    # so its rate would understate the engine's).
    work = {p: max(x[1] for x in xs) for p, xs in figures.items()}
    solo_missed = min(_missed(r) for rs in solo_cell.values() for r in rs)
    for cell in entry.get("by_host_tier", {}).values():
        runs = by_arm.get(cell["best_stock"])
        if not runs:
            continue
        live = runs[0]["live"]
        flags = live.get("server_flags", [])
        cap = (int(flags[flags.index("--max-running-requests") + 1])
               if "--max-running-requests" in flags else math.inf)
        server = dict(concurrency=live.get("concurrency") or len(ids), slots=cap,
                      pool=live.get("pool_tokens") or math.inf)
        b = mean_jct_bound(solos, **server)
        best = _median_jct(entry["arms"], cell["best_stock"])
        dflt = _median_jct(entry["arms"], cell["default_arm"])
        target = cell["target"]["jct_mean_s"] * best
        cell["bound"] = {"jct_mean_s": b.mean, "binding": b.binding,
                         "by": {"floor": b.floor, "batch": b.batch, "kv": b.kv},
                         "x_bound": {"best_stock": best / b.mean, "default": dflt / b.mean},
                         "target_feasible": target >= b.mean}
        rates = [x for n in (*cell["stock_arms"], cell["default_arm"])
                 for r in by_arm.get(n, []) if _missed(r) <= solo_missed
                 if (x := engine_rate(r, work))]
        if rates and max(rates) < min(cap, len(ids)):
            m = mean_jct_bound(solos, **server, rate=max(rates)).mean
            cell["bound"]["at_engine_rate"] = {
                "engine_rate": max(rates), "runs": len(rates), "jct_mean_s": m,
                "x_bound": {"best_stock": best / m, "default": dflt / m},
                "target_feasible": target >= m}


def _missed(run: dict) -> int:
    """Prompt tokens the run's turns did not find cached (the prefill it did)."""
    return sum(t["prompt_tokens"] - t.get("cached_tokens", 0)
               for p in run["programs"] for t in p["turns"])


def engine_rate(run: dict, solo_seconds: dict) -> float | None:
    """A run's service rate: its complete programs' solo seconds in the server
    (``solo_seconds``, per program id) over the seconds the server had at least one of
    its requests in service (queueing excluded). A GPU's batch raises it toward the batch
    size; a CPU's barely above one."""
    spans, work = [], 0.0
    for p in run["programs"]:
        if not p["complete"] or p["program_id"] not in solo_seconds:
            return None
        work += solo_seconds[p["program_id"]]
        for t in p["turns"]:
            if "start_s" not in t:  # a run before turns recorded their start
                return None
            end = t["start_s"] + t["e2e_s"]
            spans.append((end - (t.get("server_e2e_s") or t["e2e_s"]) + (t.get("queue_s") or 0),
                          end))
    busy, cur = 0.0, None
    for a, b in sorted(spans):
        if cur and a <= cur[1]:
            cur[1] = max(cur[1], b)
            continue
        busy += cur[1] - cur[0] if cur else 0.0
        cur = [a, b]
    busy += cur[1] - cur[0] if cur else 0.0
    return work / busy if busy > 0 else None


def _best_stock(arms: dict, host_tier: bool | None = None) -> str | None:
    """The stock arm with the lowest median mean JCT: among those with a host tier
    (HiCache) when `host_tier` is True, without one when False, all when None. The
    batch-limited cell's arms (another server size) are compared in _by_host only."""
    jct = {n: a["jct_mean_s"]["median"] for n, a in arms.items()
           if not _arm(n).overlay and a["jct_mean_s"]["median"]
           and not batch_capped(n)
           and (host_tier is None or ("hicache" in n) == host_tier)}
    return min(jct, key=jct.get) if jct else None


def _ratios(a: dict, b: dict) -> dict:
    """Arm `a` over arm `b`: median mean and p95 JCT."""
    return {k: a[k]["median"] / b[k]["median"]
            for k in ("jct_mean_s", "jct_p95_s") if a[k]["median"] and b[k]["median"]}


def _median_jct(arms: dict, name: str):
    a = arms.get(name)
    return a["jct_mean_s"]["median"] if a else None


def _extra_ratios(entry: dict, arms: dict) -> None:
    """Issue 13: the share of the explicit mode's JCT gain (vs the best stock arm without
    a host tier) that the transparent mode (no ids sent) keeps. Issue 15: the overlay with
    HiCache vs the best stock arm with HiCache."""
    device = _best_stock(arms, host_tier=False)
    tr, ex = _median_jct(arms, "overlay-transparent"), _median_jct(arms, DEFAULT_ARM)
    if device and tr and ex:
        base = _median_jct(arms, device)
        entry["transparent"] = {
            "baseline": device, "explicit_jct": ex, "transparent_jct": tr,
            "gain_fraction": (base - tr) / (base - ex) if base != ex else None}
        others = {n: _median_jct(arms, n) for n in arms
                  if n != "overlay-transparent" and _arm(n).plain_agents}
        if others and base != ex:  # variants of the transparent arm, same baseline
            entry["transparent"]["variants"] = {
                n: (base - j) / (base - ex) for n, j in others.items() if j}
    # Issue 14: plain requests beside agents, their TTFT vs what stock LRU gives them.
    st = arms.get("stock-lru", {}).get("plain")
    if st and st["ttft_p99_s"]["median"]:
        entry["plain_vs_stock_lru"] = {
            n: {k: a["plain"][k]["median"] / st[k]["median"]
                for k in ("ttft_mean_s", "ttft_p99_s") if a["plain"][k]["median"]}
            for n, a in arms.items() if "plain" in a and _arm(n).overlay}
    best = _best_stock(arms, host_tier=True)
    if best is None:
        return
    by_arm = {n: _ratios(a, arms[best]) for n, a in arms.items()
              if _arm(n).overlay and "hicache" in n and a["jct_mean_s"]["median"]}
    if by_arm:  # "ratio": the default's arm at the 2x host pool when it ran (as
        # by_host_tier picks it), else the first; by_host_tier compares like pools
        default = next((n for n in DEFAULT_HICACHE_ARMS if n in by_arm), next(iter(by_arm)))
        entry["hicache"] = {"best_stock_hicache": best, "by_arm": by_arm,
                            "default_arm": default, "ratio": by_arm[default]}


# The targets per host pool size (host pool / device pool; None: no host tier): the
# default's mean and p95 JCT over the best stock arm with the same host pool.
HOST_TARGETS = {None: {"jct_mean_s": 0.5}, "4": {"jct_mean_s": 1.0, "jct_p95_s": 1.05},
                "2": {"jct_mean_s": 1.0, "jct_p95_s": 1.05},
                "1": {"jct_mean_s": 0.75}, "0.5": {"jct_mean_s": 0.75}}
# The batch-limited cell (the "-b2" arms, arms.BATCH_CAP): the issue sets no live target
# there; its regime-map target where the batch is the limit is 0.7x.
BATCH_DEFAULT_ARM, BATCH_TARGET = DEFAULT_ARM + "-b2", {"jct_mean_s": 0.7}


def batch_capped(name: str) -> bool:
    """Whether the arm caps SGLang's running batch (the batch-limited cell)."""
    return BATCH_CAP[0] in _arm(name).flags


# The default's arm with a host pool 2x the device pool, newest rule first (_by_host).
DEFAULT_HICACHE_ARMS = ("overlay-hicache-fits-wb-drop", "overlay-hicache-fits-wb",
                        "overlay-hicache-fits", "overlay-hicache-nlr",
                        "overlay-hicache-younger", "overlay-hicache")


def host_ratio(name: str) -> str | None:
    """The arm's ``--hicache-ratio`` (None without HiCache)."""
    flags = _arm(name).flags
    if "--enable-hierarchical-cache" not in flags:
        return None
    return flags[flags.index("--hicache-ratio") + 1] if "--hicache-ratio" in flags else "2"


def _by_host(arms: dict) -> dict:
    """Per host pool size that ran: the best stock arm with that host pool, the
    default's arm with it (overlay-default, overlay-hicache, -h1, -h05), their
    ratios, whether the min/max ranges of mean JCT separate, and the targets met."""
    # The default's arm per host pool: the first that ran (the "-younger" arms name the
    # default's pressure scope explicitly: they ran the default when the default's scope
    # was "host" for part of 2026-12-06, experiments/live/host-map).
    # host_locks "room" became the default later that day: the "-nlr" arms, which name it
    # explicitly, come next; host_locks "fits" (the "-fits" arms) after that, first with
    # HiCache write-back (stock's best arm's write policy, the one we advise).
    # (experiments/live/host-fits ran the first version of "fits", before programs in
    # their first turn counted: its results.md was written before the change.)
    # drop_ended became the default in session 21: the "-drop" arms come first.
    default_arms = {None: (DEFAULT_ARM,),
                    "4": ("overlay-hicache-fits-wb-drop-h4", "overlay-hicache-fits-wb-h4"),
                    "2": DEFAULT_HICACHE_ARMS,
                    "1": ("overlay-hicache-fits-wb-drop-h1", "overlay-hicache-fits-wb-h1",
                          "overlay-hicache-fits-h1",
                          "overlay-hicache-nlr-h1", "overlay-hicache-younger-h1",
                          "overlay-hicache-h1"),
                    "0.5": ("overlay-hicache-fits-wb-drop-h05", "overlay-hicache-fits-wb-h05",
                            "overlay-hicache-fits-h05",
                            "overlay-hicache-nlr-h05", "overlay-hicache-younger-h05",
                            "overlay-hicache-h05")}
    out = {}
    cells = [(ratio, names, False) for ratio, names in default_arms.items()]
    cells.append((None, (BATCH_DEFAULT_ARM,), True))
    for ratio, names, capped in cells:
        stock = {n: a for n, a in arms.items() if not _arm(n).overlay
                 and host_ratio(n) == ratio and a["jct_mean_s"]["median"]
                 and batch_capped(n) == capped}
        dname = next((n for n in names if n in arms), names[-1])
        d = arms.get(dname)
        if not stock or not d or not d["jct_mean_s"]["median"]:
            continue
        best = min(stock, key=lambda n: stock[n]["jct_mean_s"]["median"])
        b = stock[best]
        r = _ratios(d, b)
        sep = None if min(d["reps"], b["reps"]) < 2 else (
            d["jct_mean_s"]["max"] < b["jct_mean_s"]["min"]
            or d["jct_mean_s"]["min"] > b["jct_mean_s"]["max"])
        target = BATCH_TARGET if capped else HOST_TARGETS[ratio]
        cell = "none" if ratio is None else f"host {ratio}x"
        out[cell + (", running batch capped at 2" if capped else "")] = {
            "default_arm": dname, "best_stock": best, "stock_arms": sorted(stock),
            "ratio_vs_best_stock": r, "ranges_separate": sep, "target": target,
            "target_met": all(r.get(k, float("inf")) <= v for k, v in target.items())}
    return out


def _arm(name: str):
    return next(x for x in ARMS if x.name == name)


def _fmt(s: dict, digits=1) -> str:
    if s["median"] is None:
        return "-"
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


def calibration_lines(out: Path) -> list[str]:
    path = out / "calibration.json"
    if not path.exists():
        return []
    c = json.loads(path.read_text())
    p = c["prefill_profile"]
    return ["## Calibration on this machine (`calibrate.py`)", "",
            f"{c['date']}, {c['machine']}, load average {c['loadavg_before'][0]:.2f} -> "
            f"{c['loadavg_after'][0]:.2f}. Prefill fit {p['a']:.3g} + {p['b']:.3g}*n + "
            f"{p['c']:.3g}*n^2 s: a {c['ref_context_tokens']}-token context rebuilds in "
            f"{c['rebuild_ref_context_s']:.2f} s; decode step ~{c['decode_step_batch1_s']*1e3:.0f}"
            f" ms at batch 1. Mean tool gap at time scale 1: {c['mean_gap_at_scale_1_s']:.2f} s. "
            f"Tool gaps scaled x{c['time_scale']} so that rebuild : tool = "
            f"{c['gpu_rebuild_to_tool']:.2f} (Llama-3.1-8B on one H100: 2.4 s for 40k "
            "tokens : 1.8 s). Overlay arms price prefill with this fit "
            "(`prefill-profile.json`).", ""]


def markdown(summary: dict, runs: list[dict], out: Path | None = None) -> str:
    cmds = sorted({r["live"]["command"] for r in runs})
    dates = sorted(r["live"]["started"] for r in runs)
    presets = sorted({r["live"].get("preset", "?") for r in runs})
    loads = [x for r in runs for x in (r["live"]["loadavg_before"][0],
                                       r["live"]["loadavg_after"][0])]
    lines = ["# Live A/B on `--model-preset " + ", ".join(presets) + "`", "",
             "Command(s): " + ", ".join(f"`{c}`" for c in cmds) + "  ",
             f"Runs: {len(runs)}, from {dates[0]} to {dates[-1]}  ",
             f"Load average (1 min) before/after the runs: {min(loads):.2f} to "
             f"{max(loads):.2f}; each run's is listed. Arms are interleaved per repeat so "
             "a drift of the machine's load does not always hit the same arm.", ""]
    if out is not None:
        lines += calibration_lines(out)
    for cell, entry in summary.items():
        lines += [f"## {cell}", "", "Median over repeats (min-max). JCT in seconds.", "",
                  "| arm | reps | mean JCT | p95 JCT | programs/min | cache hit | "
                  "queue s | prefill s | decode s | tool s | missed tokens | locks set | "
                  "load avg (before->after) |", "|" + "---|" * 13]
        for name, a in entry["arms"].items():
            bd = a["breakdown"]
            locks = [c.get("locks_set") for c in a["overlay_counters"] if c]
            lines.append(
                f"| {name} | {a['reps']} | {_fmt(a['jct_mean_s'])} | {_fmt(a['jct_p95_s'])} "
                f"| {_fmt(a['programs_per_min'], 2)} | {_fmt(a['cache_hit_ratio'], 2)} | "
                + " | ".join(f"{bd[k]:.1f}" if k in bd else "-" for k in PARTS) + " | "
                + (", ".join(f"{x:.0f}" for x in locks) if locks else "-") + " | "
                + ", ".join(f"{b:.1f}->{e:.1f}" for b, e in a["loadavg"]) + " |")
        if "best_stock" in entry:
            r = entry["ratio_vs_best_stock"]
            lines += ["", f"Best stock arm: `{entry['best_stock']}`. `{DEFAULT_ARM}` vs it: "
                      + ", ".join(f"{k} x{v:.2f}" for k, v in r.items())
                      + "; min/max ranges of mean JCT separate: "
                      + {None: "n/a (one repeat)", True: "yes", False: "no (overlap)"}[
                          entry["ranges_separate"]] + "."]
        if "best_stock_without_host_tier" in entry:
            lines += ["", f"Best stock arm without a host tier (the default has none): "
                      f"`{entry['best_stock_without_host_tier']}`. `{DEFAULT_ARM}` vs it: "
                      + ", ".join(f"{k} x{v:.2f}" for k, v in
                                  entry["ratio_vs_best_stock_without_host_tier"].items()) + "."]
        if entry.get("transparent", {}).get("gain_fraction") is not None:
            t = entry["transparent"]
            lines += ["", f"Transparent identity (`overlay-transparent`, no ids sent) keeps "
                      f"{t['gain_fraction']:.0%} of the explicit mode's mean-JCT gain over "
                      f"`{t['baseline']}` ({t['transparent_jct']:.1f} s vs "
                      f"{t['explicit_jct']:.1f} s)."
                      + "".join(f" `{n}`: {g:.0%}." for n, g in t.get("variants", {}).items())]
        plain = {n: a["plain"] for n, a in entry["arms"].items() if "plain" in a}
        if plain:
            lines += ["", "Plain requests beside the agents (median over repeats, min-max):", "",
                      "| arm | plain requests | TTFT mean s | TTFT p99 s | p99 vs stock-lru |",
                      "|---|---|---|---|---|"]
            vs = entry.get("plain_vs_stock_lru", {})
            for n, p in plain.items():
                r = vs.get(n, {}).get("ttft_p99_s")
                lines.append(f"| {n} | {_fmt(p['requests'], 0)} | {_fmt(p['ttft_mean_s'], 2)} | "
                             f"{_fmt(p['ttft_p99_s'], 2)} | "
                             + (f"x{r:.2f}" if r is not None else "-") + " |")
        if "hicache" in entry:
            h = entry["hicache"]
            lines += ["", f"Host tier, vs `{h['best_stock_hicache']}` (best stock arm with "
                      "HiCache): " + "; ".join(
                          f"`{n}` " + ", ".join(f"{k} x{v:.2f}" for k, v in r.items())
                          for n, r in h["by_arm"].items()) + "."]
        if "by_host_tier" in entry:
            lines += ["", "Per host pool (the default's arm vs the best stock arm with the same "
                      "host pool; target from the issue):", "",
                      "| host pool | default's arm | best stock arm (of) | mean x | p95 x | "
                      "ranges separate | target | met |", "|---|---|---|---|---|---|---|---|"]
            for h, e in entry["by_host_tier"].items():
                r = e["ratio_vs_best_stock"]
                lines.append(
                    f"| {h} | {e['default_arm']} | {e['best_stock']} "
                    f"({', '.join(e['stock_arms'])}) | {r.get('jct_mean_s', 0):.2f} | "
                    f"{r.get('jct_p95_s', 0):.2f} | "
                    + {None: "n/a", True: "yes", False: "no"}[e["ranges_separate"]] + " | "
                    + ", ".join(f"{k.split('_')[1]} <= {v}" for k, v in e["target"].items())
                    + f" | {'yes' if e['target_met'] else 'NO'} |")
        if "floor" in entry:
            f = entry["floor"]
            lines += ["", f"No-contention floor (the solo cell: each of these {f['programs']} "
                      f"programs alone on the server, median over runs): mean JCT "
                      f"{f['jct_mean_s']:.2f} s; "
                      + "; ".join(f"x{r:.2f} of `{n}`" for n, r in f["vs"].items()) + "."]
            shown = list(dict.fromkeys(
                n for e in entry.get("by_host_tier", {}).values()
                for n in (e["default_arm"], e["best_stock"])))
            shown = [n for n in shown or sorted(f["x_floor"]) if n in f["x_floor"]]
            if shown:
                lines += ["", "Distance to the floor (mean JCT / the floor): " + ", ".join(
                    f"`{n}` x{f['x_floor'][n]:.2f}" for n in shown) + "."]
            lines += bound_lines(entry)
        in_cell = [r for r in runs if f"{r['live'].get('workload', 'trace')}/"
                   f"{r['live']['load']}" == cell]
        lines += server_steps.lines(in_cell)
        lines += memory_lines(in_cell)
        lines.append("")
    return "\n".join(lines)


def bound_lines(entry: dict) -> list[str]:
    """The capacity bound of each host-pool cell that has one (_bounds)."""
    out = []
    for h, e in entry.get("by_host_tier", {}).items():
        if "bound" in e:
            b, t = e["bound"], e["target"]["jct_mean_s"]
            out.append(
                f"- {h}: {b['jct_mean_s']:.2f} s, bound by {b['binding']} (floor "
                f"{b['by']['floor']:.2f}, batch {b['by']['batch']:.2f}, pool "
                f"{b['by']['kv']:.2f}); `{e['best_stock']}` x{b['x_bound']['best_stock']:.2f}"
                f", the default x{b['x_bound']['default']:.2f}; the target ({t}x the best "
                f"stock arm, x{t * b['x_bound']['best_stock']:.2f} the bound) "
                + ("is within reach." if b["target_feasible"] else
                   "lies below the bound: no scheduler meets it on this server."))
            if "at_engine_rate" in b:
                r = b["at_engine_rate"]
                out.append(
                    f"  - At the engine's measured rate (at most {r['engine_rate']:.2f} solo "
                    f"seconds per second over {r['runs']} runs, below the running-batch cap's"
                    f" slots at solo speed): {r['jct_mean_s']:.2f} s; `{e['best_stock']}` "
                    f"x{r['x_bound']['best_stock']:.2f}, the default "
                    f"x{r['x_bound']['default']:.2f}; the target x"
                    f"{t * r['x_bound']['best_stock']:.2f} the bound: "
                    + ("within reach." if r["target_feasible"] else
                       "below it: no scheduler meets it at the rate this engine ran."))
    return (["", "Capacity bound on the mean JCT (sim/bounds.py; from what each program "
             "costs alone, the least over the solo runs; the best stock arm's server: "
             "its running-batch cap, its device pool, the cell's programs at a time):", ""]
            + out) if out else []


def memory_lines(runs: list[dict]) -> list[str]:
    """The machine's memory while each server served (runs since run.py recorded it)."""
    mem = [(r["live"]["arm"], r["live"]["memory_before"], r["live"]["memory_serving"])
           for r in runs if r["live"].get("memory_serving")]
    if not mem:
        return []
    low = min(mem, key=lambda m: m[2]["mem_available_mib"])
    swapped = sum(s["pswpin"] - b["pswpin"] + s["pswpout"] - b["pswpout"] for _, b, s in mem)
    return ["", f"Memory ({len(mem)} of {len(runs)} runs recorded): MemAvailable while "
            f"serving {low[2]['mem_available_mib']:,} MiB at the lowest ({low[0]}), swap "
            f"device {low[2]['swap_total_mib']:,} MiB, pages swapped in or out during the "
            f"runs: {swapped}."]


def plots(summary: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for cell, entry in summary.items():
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, a in entry["arms"].items():
            xs = sorted(a["jct_s"])
            if xs:
                ax.step(xs, [(i + 1) / len(xs) for i in range(len(xs))], where="post",
                        label=name)
        ax.set_xlabel("program JCT (s), all repeats")
        ax.set_ylabel("CDF")
        ax.set_title(f"JCT CDF, {cell}")
        ax.legend(fontsize=7)
        path = out / f"jct-cdf-{cell.replace('/', '-')}.png"
        fig.tight_layout()
        save_png(fig, path, dpi=110)
        plt.close(fig)
        paths.append(path)
    rank = {"solo": 0, "light": 1, "open": 2, "contended": 3, "mixed": 4}  # lightest left
    loads = sorted(summary, key=lambda c: (rank.get(c.split("/")[-1], 9), c))
    if len(loads) > 1:
        fig, ax = plt.subplots(figsize=(8, 5))
        names = sorted({n for e in summary.values() for n in e["arms"]})
        markers = "osD^v<>ph*"
        for k, name in enumerate(names):
            pts = [(i, summary[c]["arms"][name]["jct_mean_s"]) for i, c in enumerate(loads)
                   if name in summary[c]["arms"]
                   and summary[c]["arms"][name]["jct_mean_s"]["median"] is not None]
            if pts:
                ax.errorbar([i for i, _ in pts], [s["median"] for _, s in pts],
                            yerr=[[s["median"] - s["min"] for _, s in pts],
                                  [s["max"] - s["median"] for _, s in pts]],
                            marker=markers[k % len(markers)], capsize=3, label=name,
                            linestyle="-" if _arm(name).overlay else "--")
        ax.set_xticks(range(len(loads)), loads)
        ax.set_ylabel("mean JCT (s): median, min-max of repeats")
        ax.set_title("JCT vs load per arm (dashed: stock SGLang, solid: overlay)")
        ax.legend(fontsize=7)
        path = out / "jct-vs-load.png"
        fig.tight_layout()
        save_png(fig, path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def write_all(out: Path) -> None:
    runs = [json.loads(p.read_text()) for p in sorted((out / "results").glob("*.json"))]
    if not runs:
        raise SystemExit(f"no runs in {out / 'results'}")
    summary = summarize(runs)
    slim = {c: {**e, "arms": {n: {k: v for k, v in a.items() if k != "jct_s"}
                              for n, a in e["arms"].items()}} for c, e in summary.items()}
    cal = out / "calibration.json"
    if cal.exists():
        c = json.loads(cal.read_text())
        c.pop("sim_profile", None)
        summary_calibration = c
    else:
        summary_calibration = None
    (out / "summary.json").write_text(json.dumps(
        {"generated": time.strftime("%Y-%m-%d %H:%M:%S"), "default_arm": DEFAULT_ARM,
         "calibration": summary_calibration, "cells": slim}, indent=1))
    (out / "results.md").write_text(markdown(summary, runs, out))
    paths = plots(summary, out)
    print(f"wrote {out / 'summary.json'}, {out / 'results.md'}, "
          + ", ".join(p.name for p in paths))
