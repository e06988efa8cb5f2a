"""Start a real SGLang server (with or without the overlay) in a subprocess.

Used by the end-to-end tests, the replay harness and the experiments: real process,
real HTTP on loopback, log kept in a file for post-mortems.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests

from sglang_continuum.connect.metrics_text import metric_sum, parse_metrics


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, proc: subprocess.Popen, url: str, log_path: Path):
        self.proc, self.url, self.log_path = proc, url, log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> dict[str, float]:
        """Prometheus text of /metrics parsed into {'name{labels}': value}."""
        return parse_metrics(requests.get(f"{self.url}/metrics", timeout=10).text)

    def metric(self, name: str) -> float:
        """Sum of every sample of a metric name (all label sets). Raises MissingMetric
        when the server exports no sample of that name: a renamed metric must fail a
        test, not read as 0."""
        return metric_sum(self.metrics(), name)

    def wait_metric(self, name: str, expected=None, timeout: float = 60.0) -> float:
        """Poll a metric until it equals ``expected`` (or, when ``expected`` is a
        callable, until ``expected(value)`` is true) and return it. The scheduler
        exports its gauges and counters a little after the event, and a loaded machine
        may take much longer: this waits for the state, with a deadline that only
        bounds a failure. Raises TimeoutError naming the last value seen."""
        ok = expected if callable(expected) else (lambda v: v == expected)
        deadline = time.monotonic() + timeout
        while True:
            value = self.metric(name)
            if ok(value):
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{name} = {value}, still not {expected!r} after {timeout}s")
            time.sleep(0.1)

    def settle(self, timeout: float = 120.0) -> None:
        """Barrier for asserting that something did *not* happen: runs a two-turn
        program (a locked first turn, then its last turn) through the scheduler and
        returns once /metrics counts it ended. The scheduler processes requests in
        order, so everything sent before is then in the exported snapshot, and the
        barrier left nothing behind (its lock consumed, its program forgotten). The
        overlay exports its snapshot as soon as a program ends (before the answer goes
        out), so the count read first is current and the wait ends on this barrier."""
        from sglang_continuum.launcher.client import generate, random_ids

        ended = self.metric("sglang_continuum_programs_ended_total")
        pid = f"settle-{uuid.uuid4().hex[:12]}"
        prompt = random_ids(16, 0)
        first = generate(self.url, prompt, 1, program=pid, ttl="60s")
        generate(self.url, prompt + first["output_ids"] + [11], 1, program=pid, last=True)
        self.wait_metric("sglang_continuum_programs_ended_total",
                         lambda v: v >= ended + 1, timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None


class PortTaken(RuntimeError):
    """Another process bound the server's port between ``free_port()`` and the bind."""


BIND_ERROR = "error while attempting to bind on address"


def wait_ready(url: str, proc: subprocess.Popen, log_path: Path, timeout: float) -> None:
    """Until ``/health`` answers 200; raises with the log's tail if the process exits or
    the timeout passes, and ``PortTaken`` as soon as the log shows the port was taken
    (uvicorn then waits for shutdown instead of exiting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if BIND_ERROR in log_path.read_text(errors="replace"):
            raise PortTaken(f"{url}: port taken by another process")
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; log tail:\n"
                               + log_path.read_text(errors="replace")[-4000:])
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1.0)
    raise TimeoutError(f"server not ready in {timeout}s; log tail:\n"
                       + log_path.read_text(errors="replace")[-4000:])


@contextmanager
def launch(args: list[str], log_dir: Path, overlay: bool = True, timeout: float = 240,
           env: dict | None = None, name: str = "server"):
    """Run ``sglang_continuum.launch_server`` (``--continuum-disable`` when not overlay).
    A free port can be taken by another process before the server binds it (seen on an
    oversubscribed machine): then the server is stopped and started on a new port."""
    log_dir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    for attempt in range(3):
        port = free_port()
        log_path = log_dir / f"{name}-{port}.log"
        cmd = [sys.executable, "-m", "sglang_continuum.launch_server", "--port", str(port),
               *args]
        if not overlay:
            cmd.append("--continuum-disable")
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env,
                                    start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, proc, log_path, timeout)
            break
        except PortTaken:
            stop_process_group(proc, timeout=30)
            if attempt == 2:
                raise
        except BaseException:
            stop_process_group(proc, timeout=30)
            raise
    try:
        yield Server(proc, url, log_path)
    finally:
        stop_process_group(proc, timeout=30)


# After SIGTERM reaches the whole group, SGLang's scheduler and detokenizer exit at
# once; the launcher process then sees a child that died and sleeps 5 s "before crash
# diagnostics" (py-spy, CUDA coredumps) that have nothing to diagnose here. This long
# after the SIGTERM the group is SIGKILLed.
STOP_GRACE_S = 2.0


def stop_process_group(proc: subprocess.Popen, timeout: float,
                       grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the process group started with start_new_session; SIGKILL the group
    after ``min(grace_s, timeout)`` (its children had the SIGTERM and exited)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=min(grace_s, timeout))
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the parent, and any child left behind
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
