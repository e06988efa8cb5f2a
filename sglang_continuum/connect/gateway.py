"""Several overlay servers behind the Shepherd Model Gateway (PyPI ``smg``, 1.13.0),
the maintained successor of sglang-router.

Program affinity, two ways:

- ``manual`` (the default here): each value of the ``X-SMG-Routing-Key`` header is pinned
  to one worker (a new key goes to the least loaded one, ``--assignment-mode min_load``)
  and moves only when that worker turns unhealthy. SGLang's OpenAI routes read the header
  as the routing key, which the overlay takes as the program id; ``ProgramSession`` and
  ``ContinuumEndpoint`` send it on every call.
- ``cache_aware`` (smg's default): for agents that send nothing at all. A turn's prompt
  extends the previous turn's, so the gateway's prefix tree sends it where its prefix
  lives, and the server infers the program (``--continuum-infer-programs on``).

What 1.13.0 forwards (checked against a stub worker by ``tests/e2e/test_gateway.py``):
on ``/v1/chat/completions``, ``/v1/completions`` and ``/generate`` every body field we
use (``custom_params``, ``session_id``, ``routing_key``, ``cache_salt``, ``extra_key``,
``rid``) and the headers ``X-SMG-Routing-Key`` and ``X-Request-Id``; other headers
(``X-Continuum-*``, ``X-Session-Id``) are dropped. So, unlike sglang-router 0.3.2,
``last_turn``, ``cache_control`` and ``tool`` survive every route.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from sglang_continuum.launcher.server import stop_process_group

# Failover in about a second, stickiness on a loaded machine: a request to a dead worker
# fails to connect, its circuit breaker opens on that one failure and the retry (backoff
# from 50 ms) goes to a healthy worker, which becomes the key's home. Health probes only
# confirm it (3 failures of 10 s probes): one slow probe on a busy host must not move
# programs off the KV they hold.
FAILOVER_FLAGS = ("--cb-failure-threshold", "1", "--retry-max-retries", "5",
                  "--retry-initial-backoff-ms", "50", "--health-check-interval-secs", "1",
                  "--health-failure-threshold", "3", "--health-check-timeout-secs", "10")
POLICIES = ("manual", "consistent_hashing", "cache_aware")


def gateway_argv(worker_urls: list[str], port: int, *, policy: str = "manual",
                 host: str = "127.0.0.1", prometheus_port: int | None = None) -> list[str]:
    """``python -m smg launch`` arguments for program affinity."""
    if policy not in POLICIES:
        raise ValueError(f"policy: expected one of {', '.join(POLICIES)}, got {policy!r}")
    argv = [sys.executable, "-m", "smg", "launch", "--host", host, "--port", str(port),
            "--worker-urls", *worker_urls, "--policy", policy, *FAILOVER_FLAGS]
    if policy == "manual":
        argv += ["--assignment-mode", "min_load"]
    if prometheus_port is not None:
        argv += ["--prometheus-host", host, "--prometheus-port", str(prometheus_port)]
    return argv


@contextmanager
def launch_gateway(worker_urls: list[str], port: int, log_path: Path, *,
                   policy: str = "manual", prometheus_port: int | None = None,
                   timeout: float = 120):
    """Run smg until the block ends; yields its URL once every worker is healthy."""
    argv = gateway_argv(worker_urls, port, policy=policy, prometheus_port=prometheus_port)
    with run_until_healthy(argv, worker_urls, port, log_path, name="smg", timeout=timeout,
                           poll_s=0.5) as url:
        yield url


def healthy_workers(url: str) -> set[str]:
    workers = requests.get(f"{url}/workers", timeout=5).json()["workers"]
    return {w["url"] for w in workers if w.get("is_healthy")}


@contextmanager
def run_until_healthy(argv: list[str], worker_urls: list[str], port: int, log_path: Path,
                      *, name: str, timeout: float, poll_s: float):
    """Run a gateway process until the block ends; yields its URL once its ``/workers``
    reports every worker healthy."""
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
        stop_process_group(proc, timeout=15)
