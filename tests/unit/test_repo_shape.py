"""The repository's shape: no tracked file names a path of the machine it was
developed on (results included)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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
