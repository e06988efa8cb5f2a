"""Plots are saved as palette PNGs (the experiments/ budget)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from sglang_continuum.replay.plots import PALETTE_COLOURS, save_png  # noqa: E402


def test_a_plot_is_saved_as_a_small_palette_png(tmp_path):
    fig, ax = plt.subplots(figsize=(4, 3))
    im = ax.imshow([[i * j for i in range(30)] for j in range(30)], cmap="RdYlGn")
    fig.colorbar(im)
    full = tmp_path / "full.png"
    fig.savefig(full, dpi=80)
    path = save_png(fig, tmp_path / "small.png", dpi=80)
    plt.close(fig)
    with Image.open(path) as img:
        assert img.mode == "P" and img.size == Image.open(full).size
        assert len(img.getcolors(256)) <= PALETTE_COLOURS
    assert path.stat().st_size < full.stat().st_size
