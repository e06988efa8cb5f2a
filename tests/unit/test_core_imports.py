import pathlib
import re
import subprocess
import sys

import sglang_continuum.core as core

CORE_DIR = pathlib.Path(core.__file__).parent


def test_core_imports_neither_sglang_nor_torch():
    code = ("import sys, sglang_continuum.core; "
            "assert 'torch' not in sys.modules and 'sglang' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_core_reads_no_wall_clock():
    clock = re.compile(r"\b(time\.(time|monotonic|perf_counter)|datetime\.now|import time\b)")
    offenders = [p.name for p in CORE_DIR.rglob("*.py") if clock.search(p.read_text())]
    assert offenders == []


def test_public_names_are_exported():
    for name in core.__all__:
        assert hasattr(core, name), name
