"""Tables and target verdicts from the results dict (printed and written as markdown)."""

from __future__ import annotations

import math

CACHE_TARGET = 1.05      # overlay/stock cache-op time, median over repeats
STEP_TARGET_US = 100.0   # policy work per scheduler step at 1,000 programs
DECISION_TARGET_US = 10.0  # TTL decision per finished turn at 10,000 durations
STEP_TARGET_N = "1000"
E2E_TOLERANCE = 0.02     # throughput and TTFT within 2% of stock


def _f(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _sp(s: dict, digits: int = 3) -> tuple[str, str, str]:
    return _f(s["min"], digits), _f(s["median"], digits), _f(s["max"], digits)


def verdicts(res: dict) -> list[tuple[str, bool, str]]:
    """(target, met, evidence) for each part present in `res`."""
    out = []
    mixes = res.get("cache", {}).get("mixes", {})
    # The like-for-like baselines: identical trees (see cache_bench's docstring).
    for mix, base in (("stock", "stock"), ("inferred", "pinned"), ("agent", "pinned")):
        if base in mixes.get(mix, {}):
            ratio = mixes[mix][base]["ratio"]
            r = ratio["cache_ops_total"]["median"]
            tree = ", ".join(f"{op} {ratio[op + '_median']['median']:.3f}"
                             for op in ("match", "insert", "lock", "unlock", "evict")
                             if op + "_median" in ratio)
            out.append((f"cache ops, {mix} traffic, overlay/{base} <= {CACHE_TARGET} "
                        f"at the median", r <= CACHE_TARGET,
                        f"median ratio {r:.3f} (per-call medians: {tree}, release "
                        f"{ratio['release_median']['median']:.1f})"))
    pol = res.get("policy")
    if pol:
        sizes = pol["sizes"]
        if STEP_TARGET_N in sizes:
            us = sizes[STEP_TARGET_N]["step"]["us"]["median"]
            out.append((f"policy < {STEP_TARGET_US:.0f} us per step at 1,000 programs",
                        us < STEP_TARGET_US, f"{us:.1f} us"))
        exp, ref = pol["growth_exponent"]["step"], pol["nlogn_exponent"]
        if not math.isnan(exp):
            out.append(("policy step growth <= n log n", exp <= ref + 0.05,
                        f"fitted exponent {exp:.2f} (n log n fits {ref:.2f})"))
    dec = res.get("decision") or (pol or {}).get("decision")
    for case in ("uncontended", "contended") if dec else ():
        us = dec[case]["us"]
        out.append((f"TTL decision <= {DECISION_TARGET_US:.0f} us per finished turn, "
                    f"{case}, {dec['durations']:,} durations",
                    us["median"] <= DECISION_TARGET_US,
                    f"{us['median']:.1f} us (min {us['min']:.1f}, max {us['max']:.1f})"))
    e2e = res.get("e2e")
    if e2e:
        t = e2e["throughput_tok_s"]["ratio"]["median"]
        f = e2e["mean_ttft_s"]["ratio"]["median"]
        out.append(("e2e throughput within 2% of stock", t >= 1 - E2E_TOLERANCE,
                    f"median ratio {t:.3f}"))
        out.append(("e2e mean TTFT within 2% of stock", f <= 1 + E2E_TOLERANCE,
                    f"median ratio {f:.3f}"))
    return out


def markdown(res: dict) -> str:
    lines: list[str] = []
    add = lines.append
    cache = res.get("cache")
    if cache:
        sc = cache["script"]
        add("## 1. Radix-cache operations (in process, " + cache["clock"] + ")\n")
        add(f"{sc['programs']} programs of the shared trace, {sc['turns']} turns; final "
            f"contexts {sc['final_context_tokens']['min']:.0f}-"
            f"{sc['final_context_tokens']['max']:.0f} tokens (median "
            f"{sc['final_context_tokens']['median']:.0f}), growing a median "
            f"{sc['growth_per_turn_tokens']:.0f} tokens a turn; spec `{cache['spec']}`.\n")
        for mix, rows in cache["mixes"].items():
            for base, row in rows.items():
                add(f"### {mix} traffic: overlay vs {base}\n")
                add(f"| measure | overlay/{base} min | median | max | overlay median | "
                    f"{base} median |")
                add("|---|---|---|---|---|---|")
                for label, sp in row["ratio"].items():
                    unit = "ms" if label.endswith(("total", "hooks")) else "us"
                    add(f"| {label} | " + " | ".join(_sp(sp)) +
                        f" | {_f(row['overlay'][label]['median'], 1)} {unit} | "
                        f"{_f(row['baseline'][label]['median'], 1)} {unit} |")
                add(f"\nHooks (not in cache_ops_total): overlay "
                    f"{_f(row['overlay']['hooks_ms']['median'], 1)} ms per run, {base} "
                    f"{_f(row['baseline']['hooks_ms']['median'], 1)} ms. Calls per run: "
                    f"{row['calls']}. Hit tokens overlay {row['overlay']['hit_tokens']} vs "
                    f"{base} {row['baseline']['hit_tokens']}; evicted "
                    f"{row['overlay']['evicted_tokens']} vs {row['baseline']['evicted_tokens']}. "
                    f"Overlay locks: {row['overlay']['locks']}.\n")
    pol = res.get("policy")
    if pol:
        add("## 2. Policy core per scheduler step (" + pol.get("clock", "") + ")\n")
        add(f"Spec `{pol['spec']}`.\n")
        add("| programs | step us (min/med/max) | tick | sort | admit | finish | arrive "
            "| waiting | locks | expiry us, n locks | queue us, n waiting | ttl+lock us/turn "
            "| gate us/pass (new programs held) |")
        add("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for n, row in pol["sizes"].items():
            last = row["step"]["last"]
            parts = last["parts_mean_us"]
            add(f"| {n} | {'/'.join(_sp(row['step']['us'], 1))} | "
                + " | ".join(_f(parts[k], 1) for k in ("tick", "sort", "admit", "finish",
                                                       "arrive"))
                + f" | {last['waiting']} | {last['active_locks']} | "
                f"{_f(row['expiry']['us']['median'], 1)} | "
                f"{_f(row['queue']['us']['median'], 0)} "
                f"({_f(row['queue']['last']['per_request_us'], 2)}/req) | "
                f"{_f(row['ttl']['us']['median'], 1)} | "
                + (f"{_f(row['gate']['us']['median'], 0)} ({row['gate']['last']['held']} of "
                   f"{row['gate']['last']['waiting']}) |" if "gate" in row else "- |"))
        ge = pol["growth_exponent"]
        add(f"\nFitted growth exponents (log-log slope over n): "
            + ", ".join(f"{k} {_f(v, 2)}" for k, v in ge.items())
            + f"; n log n itself fits {_f(pol['nlogn_exponent'], 2)}, n^2 fits 2.00.\n")
    e2e = res.get("e2e")
    if e2e:
        add("## 3. End to end, CPU server, no program ids (wall clock)\n")
        add(f"Server flags (both arms): `{' '.join(e2e['server_args'])}`; spec "
            f"`{e2e['spec']}`.\n")
        add("| measure | overlay/stock min | median | max | overlay median | stock median |")
        add("|---|---|---|---|---|---|")
        for metric, unit, scale in (("throughput_tok_s", "tok/s", 1), ("mean_ttft_s", "ms", 1e3)):
            row = e2e[metric]
            add(f"| {metric} | " + " | ".join(_sp(row["ratio"])) +
                f" | {_f(row['overlay']['median'] * scale, 1)} {unit} | "
                f"{_f(row['stock']['median'] * scale, 1)} {unit} |")
        add("\n| repeat | batch | arm | tok/s | mean TTFT ms | wall s | load before |")
        add("|---|---|---|---|---|---|---|")
        for r in e2e["runs"]:
            add(f"| {r['repeat']} | {r['batch']} | {r['arm']} | "
                f"{_f(r['throughput_tok_s'], 1)} | {_f(r['mean_ttft_s'] * 1e3, 0)} | "
                f"{_f(r['wall_s'], 1)} | {r['loadavg_before']} |")
        add("")
    add("## Targets\n")
    add("| target | met | evidence |")
    add("|---|---|---|")
    for name, ok, ev in verdicts(res):
        add(f"| {name} | {'yes' if ok else 'NO'} | {ev} |")
    return "\n".join(lines) + "\n"
