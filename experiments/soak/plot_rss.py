"""The scheduler's resident memory over a soak, from the ``--rss-csv`` files here.

    python experiments/soak/plot_rss.py     # rss.png from rss-*.csv

Each CSV row is ``seconds,bytes`` (the SGLang scheduler processes together, every 10 s).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sglang_continuum.replay.plots import save_png  # noqa: E402

HERE = Path(__file__).resolve().parent
# file stem -> legend label
RUNS = {
    "rss-overlay-any-length": "overlay, prompts of any length (12 min)",
    "rss-overlay": "overlay, lengths in multiples of 64 (30 min)",
    "rss-stock": "stock SGLang (--continuum-disable), multiples of 64 (15 min)",
}


def main() -> None:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for stem, label in RUNS.items():
        path = HERE / f"{stem}.csv"
        if not path.exists():
            continue
        rows = [line.split(",") for line in path.read_text().split()]
        ax.plot([float(t) / 60 for t, _ in rows], [int(b) / 2**20 for _, b in rows],
                label=label)
    ax.set_xlabel("minutes into the soak")
    ax.set_ylabel("scheduler RSS, MiB")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center right", bbox_to_anchor=(1.0, 0.68))
    fig.tight_layout()
    save_png(fig, HERE / "rss.png", dpi=80)  # a palette PNG: a few KB in the repository


if __name__ == "__main__":
    main()
