"""The repository's shape: commands are console scripts, not modules at the package
root, and no tracked file names a path of the machine it was developed on (results
included)."""

from __future__ import annotations

import importlib
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sglang_continuum"
# Modules at the package root: the package, the command users run as `python -m`, the demo.
ROOT_MODULES = {"__init__", "launch_server", "demo"}
# Absolute paths of a development machine: its shared and home folders, and temporary
# folders one run made (a results file that quotes them). A default such as
# "/tmp/<tool>-logs" names no machine. Built from pieces so this file does not match.
MACHINE_PATH = re.compile("|".join((r"/" + "work/", r"/" + "root/", r"/" + r"home/\w",
                                    r"/" + "Users/", r"/" + r"tmp/tmp\w",
                                    r"/" + "tmp/pytest-of-")))


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_commands_are_console_scripts_that_resolve():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "sglang-continuum" in scripts and len(scripts) > 1, scripts
    for name, target in scripts.items():
        module, _, attr = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), f"{name}: {target}"


def test_no_command_shims_at_the_package_root():
    found = {p.stem for p in PACKAGE.glob("*.py")}
    assert found <= ROOT_MODULES, f"make these console scripts: {found - ROOT_MODULES}"


def test_no_development_machine_path_in_tracked_files():
    hits = []
    for path in tracked_files():
        if not path.is_file():
            continue  # deleted in the work tree, not yet committed
        data = path.read_bytes()
        if b"\0" in data[:4096]:
            continue  # binary (plots, the gzip trace)
        for no, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if MACHINE_PATH.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()[:120]}")
    assert not hits, "machine paths in the repository:\n" + "\n".join(hits)
