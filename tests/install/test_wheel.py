"""A non-editable install works with no checkout around it: the wheel carries the
patches, the trace and the simulator profiles, and a server started from it serves.

The wheel is built from this checkout (``pip wheel --no-deps``) and installed into a
fresh venv whose only other packages are SGLang and its dependencies, borrowed from the
running environment by a path entry (not as a site dir: the checkout's editable install
stays invisible). Every command runs in an empty temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import requests

from sglang_continuum.launcher.server import free_port, stop_process_group, wait_ready

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.server


def run(cmd, cwd, env, timeout=300):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of the fresh venv, an empty working folder, its environment)."""
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    # A clean copy: a build/ folder left in the checkout could leak stale files in.
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".hypothesis",
        ".pytest_cache"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp / "dist"), str(source)], tmp, env)
    wheel = next((tmp / "dist").glob("sglang_continuum-*.whl"))
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp, env)
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                     "['purelib'])"], tmp, env).strip())
    (site / "zz_borrowed_sglang.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "-q", str(wheel)], tmp, env)
    work = tmp / "work"
    work.mkdir()
    return wheel, python, work, env


def test_wheel_carries_the_data_files(installed):
    wheel = installed[0]
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("sglang_continuum/_patches/") and n.endswith(".patch")
               for n in names), "no patch in the wheel"
    assert "sglang_continuum/workload/data/swecontextbench_claudecode.jsonl.gz" in names
    assert "sglang_continuum/sim/profiles/cpu_tiny.json" in names
    print(f"{wheel.name}: {len(names)} files")


def test_installed_package_patches_and_finds_its_data(installed):
    _, python, work, env = installed
    probe = run([str(python), "-c", (
        "import sglang_continuum, sglang_continuum.server.patching as p;"
        "from sglang_continuum.workload import load_trace;"
        "from sglang_continuum.sim.profiles import load_profile;"
        "print(sglang_continuum.__file__); print(p.patch_dir());"
        "print(len(load_trace())); print(load_profile('cpu_tiny').name)")], work, env)
    package, patches, programs, profile = probe.split()
    venv = str(python.parent.parent)
    assert package.startswith(venv) and patches.startswith(venv), probe
    assert programs == "299" and profile == "cpu_tiny"
    check = run([str(python.parent / "sglang-continuum-patch"), "check"], work, env)
    assert "conflict" not in check and "applied" in check, check
    out = run([str(python), "-m", "sglang_continuum.sim", "--workload", "trace",
               "--programs", "3", "--profile", "cpu_tiny", "--policy", "continuum",
               "--concurrency", "2", "--out", str(work / "sim")], work, env)
    assert "continuum" in out


def test_installed_server_serves(installed):
    _, python, work, env = installed
    port = free_port()
    log = work / "server.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([str(python), "-m", "sglang_continuum.launch_server",
                                 "--port", str(port), "--max-total-tokens", "4096"],
                                cwd=work, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log, timeout=240)
        body = {"input_ids": list(range(10, 60)), "sampling_params": {
            "max_new_tokens": 2, "ignore_eos": True,
            "custom_params": {"program_id": "wheel", "last_turn": False}}}
        r = requests.post(f"{url}/generate", json=body, timeout=120)
        assert r.status_code == 200 and len(r.json()["output_ids"]) == 2, r.text
        assert "overlay active" in log.read_text(errors="replace")
    finally:
        stop_process_group(proc, timeout=30)
