"""Markdown tables of summaries."""

from __future__ import annotations

from .metrics import Summary

COLUMNS = (
    ("workload", "workload", "{}"), ("policy", "policy", "{}"), ("rate", "jobs/s", "{:g}"),
    ("jct_mean", "JCT mean s", "{:.1f}"), ("jct_p50", "p50", "{:.1f}"),
    ("jct_p95", "p95", "{:.1f}"), ("jct_p99", "p99", "{:.1f}"),
    ("ttft_mean", "TTFT s", "{:.2f}"), ("cache_hit_ratio", "hit", "{:.3f}"),
    ("programs_per_min", "prog/min", "{:.2f}"), ("tokens_per_s", "tok/s", "{:.0f}"),
    ("retractions", "retract", "{}"), ("deadlocks", "deadlocks", "{}"),
)


def markdown_table(summaries: list[Summary]) -> str:
    head = "| " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    rows = ["| " + " | ".join(fmt.format(getattr(s, name)) for name, _, fmt in COLUMNS) + " |"
            for s in summaries]
    return "\n".join([head, rule, *rows])
