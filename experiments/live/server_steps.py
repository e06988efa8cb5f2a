"""What a server's own log says it did during a run, recorded per run by run.py.

SGLang logs one line per prefill batch (new sequences, new and cached tokens) and one
per ``--decode-log-interval`` decode steps (40 by default: the running requests and the
interval's generation throughput). Two arms whose programs cached the same tokens did
the same prefill work; where they decode at different speeds, these lines say whether
they ran different batches (more or fewer requests decoding together, prefill batches
breaking into the decodes) or the same batches more slowly (a per-step overhead).
"""

from __future__ import annotations

import re
import statistics

_PREFILL = re.compile(r"Prefill batch.*?#new-seq: (\d+), #new-token: (\d+), "
                      r"#cached-token: (\d+)")
_DECODE = re.compile(r"Decode batch.*?#running-req: (\d+).*?"
                     r"gen throughput \(token/s\): ([\d.]+)")
# launcher/testbed_link.RELOAD_LINE: a host-tier reload on the paced testbed link
_RELOAD = re.compile(r"testbed link: reload of (\d+) tokens took ([\d.]+) s")


def step_stats(log: str) -> dict:
    """Counts over the log's prefill and decode lines (means None: no decode line)."""
    prefill = [tuple(int(x) for x in m.groups()) for m in _PREFILL.finditer(log)]
    decode = [(int(m.group(1)), float(m.group(2))) for m in _DECODE.finditer(log)]
    reloads = [(int(m.group(1)), float(m.group(2))) for m in _RELOAD.finditer(log)]
    running = [r for r, _ in decode]
    speed = [s for _, s in decode]
    return {
        "prefill_batches": len(prefill),
        "prefill_seqs": sum(p[0] for p in prefill),
        "prefill_new_tokens": sum(p[1] for p in prefill),
        "prefill_cached_tokens": sum(p[2] for p in prefill),
        # host-tier reloads (paced testbed link only): how many, their tokens, and the
        # engine time they took (the scheduler waits for each)
        "reloads": len(reloads),
        "reload_tokens": sum(t for t, _ in reloads),
        "reload_s": sum(s for _, s in reloads),
        "decode_lines": len(decode),
        "decode_running_mean": statistics.fmean(running) if decode else None,
        "decode_tok_s_mean": statistics.fmean(speed) if decode else None,
        # per decoding request: the step's own speed, whatever the batch
        "decode_tok_s_per_req": statistics.fmean(s / r for r, s in decode if r)
        if any(running) else None,
    }


_COLUMNS = (("prefill_batches", 0), ("prefill_new_tokens", 0), ("prefill_cached_tokens", 0),
            ("reloads", 0), ("reload_tokens", 0), ("reload_s", 1),
            ("decode_lines", 0), ("decode_running_mean", 2), ("decode_tok_s_mean", 1),
            ("decode_tok_s_per_req", 2))


def lines(runs: list[dict]) -> list[str]:
    """A markdown table of the runs' step stats per arm (median over the runs that
    recorded them), or nothing when none did."""
    by_arm: dict[str, list[dict]] = {}
    for r in runs:
        if r["live"].get("server_steps"):
            by_arm.setdefault(r["live"]["arm"], []).append(r["live"]["server_steps"])
    if not by_arm:
        return []
    out = ["", "Server steps (SGLang's log lines; median over repeats): prefill batches, "
           "their new and cached tokens; host-tier reloads over the paced testbed link, "
           "their tokens and the engine seconds they took (- where the run's log has no "
           "such line: no host tier, or a run before they were logged); decode log lines "
           "(one per 40 steps), requests decoding together, generation tok/s, tok/s per "
           "decoding request:", "",
           "| arm | reps | prefill batches | new tokens | cached tokens | reloads | "
           "reload tokens | reload s | decode lines | running | tok/s | tok/s per request |",
           "|" + "---|" * 12]
    for arm, stats in sorted(by_arm.items()):
        cells = []
        for key, digits in _COLUMNS:
            xs = [s[key] for s in stats if s.get(key) is not None]
            if key.startswith("reload") and not any(s.get("reloads") for s in stats):
                xs = []  # no reload logged: no host tier, or a run from before
            cells.append(f"{statistics.median(xs):,.{digits}f}" if xs else "-")
        out.append(f"| {arm} | {len(stats)} | " + " | ".join(cells) + " |")
    return out
