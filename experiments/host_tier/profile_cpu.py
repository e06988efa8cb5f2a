"""Prefill and host-reload profile of the tiny model on a CPU HiCache server.

Starts the overlay's server with ``--enable-hierarchical-cache`` (4096-token device pool,
host pool 2x), runs ``python -m sglang_continuum.tools.profile_prefill --host-reload``
against it, and writes the profile JSON next to this file. Usage: ``python experiments/host_tier/profile_cpu.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from sglang_continuum.launcher.server import launch

HERE = Path(__file__).parent


def main() -> int:
    out = HERE / "results" / "profile-cpu-tiny.json"
    out.parent.mkdir(exist_ok=True)
    with launch(["--enable-hierarchical-cache", "--max-total-tokens", "4096",
                 "--random-seed", "0"], Path(tempfile.mkdtemp()), name="profile") as s:
        return subprocess.call([
            sys.executable, "-m", "sglang_continuum.tools.profile_prefill", "--url", s.url,
            "--sizes", "16", "256", "512", "1024", "2048", "--repeats", "2",
            "--host-reload", "--reload-sizes", "256", "512", "1024", "2048",
            "--out", str(out)])


if __name__ == "__main__":
    sys.exit(main())
