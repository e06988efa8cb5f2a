"""Results stay out of the source tree: what git tracks under experiments/ (scripts,
each campaign's results.md, summary.json, plots) stays under 2 MB. Per-run files with
per-turn records are written by the drivers and not committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUDGET_BYTES = 2_000_000


def tracked(folder: str) -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z", folder], cwd=ROOT,
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_tracked_experiments_stay_under_the_budget():
    files = [p for p in tracked("experiments") if p.is_file()]
    if not files:
        pytest.skip("no tracked experiments/ files (not a git checkout of this project)")
    sizes = {str(p.relative_to(ROOT)): p.stat().st_size for p in files}
    total = sum(sizes.values())
    biggest = sorted(sizes.items(), key=lambda kv: -kv[1])[:10]
    assert total < BUDGET_BYTES, (
        f"experiments/ tracks {total:,} bytes (budget {BUDGET_BYTES:,}); keep per-run "
        f"files out of git. Largest: {biggest}")
