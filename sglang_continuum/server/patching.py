"""Apply, check or revert the overlay's upstream-style patches to the installed SGLang.

The patches in ``patches/`` are written against the SGLang repository layout
(``python/sglang/...``), so ``git apply`` / ``patch -p1`` take them in a checkout of
v0.5.23. Against an installed package they apply with ``-p2`` inside site-packages.
Usage: ``sglang-continuum-patch {apply,check,revert,status}`` (or ``python -m
sglang_continuum.server.patching``); ``check`` also checks every SGLang seam the adapter
relies on (one command answers "is this SGLang upgrade safe for the overlay?").
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import resources
from pathlib import Path

def patch_dir() -> Path:
    """The patches: the package's copy in an installed wheel (``setup.py`` puts
    ``patches/`` there as ``_patches``), else the source checkout's ``patches/``
    (an editable install)."""
    package = Path(str(resources.files("sglang_continuum")))
    candidates = (package / "_patches", package.parent / "patches")
    for candidate in candidates:
        if any(candidate.glob("*.patch")):
            return candidate
    raise SystemExit(f"no patches found in {' or '.join(map(str, candidates))}: "
                     "reinstall sglang-continuum")


def patch_files() -> list[Path]:
    return sorted(patch_dir().glob("*.patch"))


def site_root() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("sglang")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("sglang is not installed in this environment")
    return Path(list(spec.submodule_search_locations)[0]).parent


def _patch(args: list[str], patch: Path, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["patch", "-p2", "--force", "--silent", "-d", str(root), *args, "-i", str(patch)],
        capture_output=True, text=True,
    )


def state(patch: Path, root: Path) -> str:
    """'applied', 'applicable' or 'conflict' for one patch against the install."""
    if _patch(["--dry-run", "-R"], patch, root).returncode == 0:
        return "applied"
    if _patch(["--dry-run", "--forward"], patch, root).returncode == 0:
        return "applicable"
    return "conflict"


def apply_all(root: Path | None = None) -> list[tuple[str, str]]:
    root = root or site_root()
    done = []
    for p in patch_files():
        s = state(p, root)
        if s == "applicable":
            r = _patch(["--forward"], p, root)
            if r.returncode != 0:
                raise RuntimeError(f"{p.name} failed to apply: {r.stdout}{r.stderr}")
            s = "newly applied"
        elif s == "conflict":
            raise RuntimeError(f"{p.name} does not apply to the SGLang under {root}")
        done.append((p.name, s))
    return done


def missing(root: Path | None = None, patches: list[Path] | None = None) -> list[str]:
    """Names of the patches not applied to the SGLang under ``root`` (applicable or in
    conflict): what the launcher warns about before serving."""
    root = root or site_root()
    return [p.name for p in (patches if patches is not None else patch_files())
            if state(p, root) != "applied"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sglang-continuum-patch")
    ap.add_argument("action", choices=["apply", "check", "revert", "status"])
    a = ap.parse_args(argv)
    root = site_root()
    if a.action == "apply":
        for name, s in apply_all(root):
            print(f"{name}: {s}")
        return 0
    bad = 0
    for p in patch_files():
        s = state(p, root)
        if a.action == "revert" and s == "applied":
            _patch(["-R"], p, root)
            s = "reverted"
        print(f"{p.name}: {s}")
        bad += s == "conflict"
    if a.action == "check":
        bad += not _check_seams()
    return 1 if bad else 0


def _check_seams() -> bool:
    """The other half of "is this SGLang safe for the overlay": every hook target
    and every attribute the adapter reads (see adapter/seams.py)."""
    from sglang.srt.plugins import load_plugins
    from sglang.srt.plugins.hook_registry import HookRegistry

    from sglang_continuum.adapter.hooks import check_seams

    load_plugins()  # registers and applies the overlay's hooks in this process
    report = check_seams(HookRegistry)
    print(report.message())
    return report.ok


if __name__ == "__main__":
    sys.exit(main())
