"""Replay results to files: JSON (everything), a markdown table, PNG plots (Agg)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from sglang_continuum.replay.plots import save_png

COLUMNS = (
    ("label", "run", "{}"), ("completed", "done", "{}"),
    ("jct_mean_s", "JCT mean s", "{:.1f}"), ("jct_p50_s", "p50", "{:.1f}"),
    ("jct_p90_s", "p90", "{:.1f}"), ("jct_p95_s", "p95", "{:.1f}"),
    ("jct_p99_s", "p99", "{:.1f}"), ("programs_per_min", "prog/min", "{:.2f}"),
    ("output_tokens_per_s", "out tok/s", "{:.1f}"),
    ("prompt_tokens_per_s", "prompt tok/s", "{:.0f}"),
    ("cache_hit_ratio", "cache hit", "{:.3f}"), ("ttft_mean_s", "TTFT mean s", "{:.2f}"),
    ("queue_mean_s", "queue mean s", "{:.2f}"),
)


def _cell(value, fmt: str) -> str:
    if value is None:
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def markdown_table(rows: Iterable[Mapping], columns: Sequence[tuple] = COLUMNS) -> str:
    """Rows of summaries (plus any extra keys named in ``columns``) as a markdown table."""
    head = "| " + " | ".join(c[1] for c in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_cell(r.get(c[0]), c[2]) for c in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def knobs_line(knobs: Mapping) -> str:
    return "scaling: " + ", ".join(f"{k}={v}" for k, v in knobs.items())


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_jct_cdf(series: Mapping[str, Sequence[float]], path: Path, title: str = "") -> None:
    """One empirical JCT CDF per label (e.g. per policy arm)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, xs in series.items():
        xs = sorted(xs)
        if xs:
            ax.step(xs, [(i + 1) / len(xs) for i in range(len(xs))], where="post", label=label)
    ax.set_xlabel("job completion time (s)")
    ax.set_ylabel("fraction of programs")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_png(fig, path, dpi=120)
    plt.close(fig)


def plot_vs_load(points: Mapping[str, Sequence[tuple[float, float, float]]], path: Path,
                 xlabel: str, title: str = "") -> None:
    """Mean (solid) and p95 (dashed) JCT against load, one colour per arm.
    ``points[arm]`` = [(load, mean, p95), ...]."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (arm, pts) in enumerate(points.items()):
        pts = sorted(p for p in pts if p[1] is not None)
        if not pts:
            continue
        colour = f"C{i % 10}"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=colour,
                label=f"{arm} mean")
        ax.plot([p[0] for p in pts], [p[2] for p in pts], "s--", color=colour, alpha=0.6,
                label=f"{arm} p95")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("JCT (s)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_png(fig, path, dpi=120)
    plt.close(fig)
