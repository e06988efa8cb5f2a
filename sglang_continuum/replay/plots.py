"""Plots saved small: a matplotlib figure written as a 64-colour palette PNG (a few KB,
the same look for line plots and heat maps), so the campaigns' plots fit the
repository's experiments/ budget."""

from __future__ import annotations

from pathlib import Path

PALETTE_COLOURS = 64


def save_png(fig, path: Path, dpi: int) -> Path:
    """Write `fig` to `path` as a palette PNG; returns `path`."""
    from PIL import Image  # matplotlib's own dependency

    fig.savefig(path, dpi=dpi)
    with Image.open(path) as img:
        small = img.convert("RGB").quantize(PALETTE_COLOURS)
    small.save(path, optimize=True)
    return path
