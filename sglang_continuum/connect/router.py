"""Several overlay servers behind SGLang's own router (PyPI ``sglang-router``, 0.3.2).

The router's ``manual`` policy pins each value of the ``X-SMG-Routing-Key`` header to
one worker and only moves it when that worker turns unhealthy; the router forwards the
header, and SGLang's OpenAI routes read it as the routing key, which the overlay takes
as the program id. So one header gives both affinity and identity. ``ProgramSession``
and ``ContinuumEndpoint`` send it with every call.

What 0.3.2 forwards (checked against a stub worker; see README.md, "Connect your agent"):
``/v1/chat/completions`` and ``/generate`` are re-serialised from typed structs that
drop ``custom_params`` (so ``last_turn``, ``cache_control`` and ``tool`` are lost; the
server's policy picks the TTL and a last turn's lock lapses instead of being released),
and ``/generate`` also drops the ``routing_key`` body field. ``/v1/completions`` keeps
unknown body fields, ``custom_params`` included. Of the request headers the stub saw
only ``X-SMG-Routing-Key`` and the content type (a custom ``X-Continuum-*`` was dropped).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

# Failover in seconds, stickiness on a loaded machine: a turn sent to a dead worker is
# retried (12 tries, backoff from 50 ms doubling) until the health checker has marked
# the worker unhealthy (3 failed 1 s probes) and the key is re-pinned to a healthy
# worker. 8 tries (about 6 s) ran out once in the failover test on a quiet machine
# (HTTP 500 naming the dead worker); the extra tries cost time only when a worker died.
# With one failed probe enough, a slow /health on a busy host marked a live worker
# unhealthy and moved programs mid-run. (0.3.2's manual policy does not re-pin on
# an open circuit breaker: only health moves a key.)
FAILOVER_FLAGS = ("--health-check-interval-secs", "1", "--health-failure-threshold", "3",
                  "--health-check-timeout-secs", "10", "--retry-max-retries", "12",
                  "--retry-initial-backoff-ms", "50")


def router_argv(worker_urls: list[str], port: int, *, host: str = "127.0.0.1",
                prometheus_port: int | None = None) -> list[str]:
    """``python -m sglang_router.launch_router`` arguments for program affinity."""
    argv = [sys.executable, "-m", "sglang_router.launch_router", "--host", host,
            "--port", str(port), "--worker-urls", *worker_urls, "--policy", "manual",
            *FAILOVER_FLAGS]
    if prometheus_port is not None:
        argv += ["--prometheus-host", host, "--prometheus-port", str(prometheus_port)]
    return argv


def healthy_workers(url: str) -> set[str]:
    workers = requests.get(f"{url}/workers", timeout=5).json()["workers"]
    return {w["url"] for w in workers if w.get("is_healthy")}


@contextmanager
def launch_router(worker_urls: list[str], port: int, log_path: Path,
                  prometheus_port: int | None = None, timeout: float = 120):
    """Run the router until the block ends; yields its URL once every worker is healthy."""
    with run_until_healthy(router_argv(worker_urls, port, prometheus_port=prometheus_port),
                           worker_urls, port, log_path, name="router", timeout=timeout,
                           poll_s=1.0) as url:
        yield url


@contextmanager
def run_until_healthy(argv: list[str], worker_urls: list[str], port: int, log_path: Path,
                      *, name: str, timeout: float, poll_s: float):
    """Run a gateway process (sglang-router or smg) until the block ends; yields its URL
    once its ``/workers`` reports every worker healthy."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "NO_COLOR": "1"},
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; log tail:\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            try:
                if healthy_workers(url) >= set(worker_urls):
                    break
            except (requests.RequestException, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} workers not healthy in {timeout}s")
            time.sleep(poll_s)
        yield url
    finally:
        from sglang_continuum.testing.server import stop_process_group

        stop_process_group(proc, timeout=15)
