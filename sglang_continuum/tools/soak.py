"""``sglang-continuum-soak`` (``python -m sglang_continuum.tools.soak``): many concurrent
agent programs plus injected faults against a real server, then a leak check.

Faults: programs that vanish mid-tool (no next turn), clients that disconnect
mid-stream (stream=true, socket closed), aborts (``POST /abort_request`` with the rid),
malformed overlay fields (must get HTTP 400). Afterwards, once every TTL has passed,
``sglang_continuum_locked_tokens`` must be 0 and SGLang's KV usage back at its idle
level. Without ``--url`` a server with the overlay is started and stopped here.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import requests

from sglang_continuum.connect.metrics_text import metric_sum, parse_metrics
from sglang_continuum.launcher.client import program_fields, random_ids

FAULTS = ("vanish", "disconnect", "abort", "malformed")
BAD_FIELDS = (
    {"program_id": ""}, {"program_id": "x" * 200}, {"program_id": "a\x07b"},
    {"program_id": 42}, {"program_id": "p", "last_turn": "yes"},
    {"program_id": "p", "tool": "rm -rf /\n"},
    {"program_id": "p", "cache_control": {"type": "ephemeral", "ttl": "-1s"}},
    {"program_id": "p", "cache_control": {"type": "forever"}}, "not-an-object",
)
PROBE_TOKENS = 256


@dataclass
class SoakReport:
    programs_started: int = 0
    programs_finished: int = 0
    turns_served: int = 0
    faults: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)  # well-formed requests that failed
    max_wait_s: float = 0.0
    max_wait_with_locks_s: float = 0.0
    leaks: list = field(default_factory=list)
    idle_used_tokens: float = 0.0
    final_used_tokens: float = 0.0
    final_locked_tokens: float = 0.0
    settle_s: float = 0.0
    health_failures: int = 0

    def lines(self) -> list[str]:
        return [
            f"well-formed programs started {self.programs_started}, finished "
            f"{self.programs_finished}; turns served {self.turns_served} (vanishing programs "
            f"included)",
            "faults injected: " + (", ".join(f"{k} {self.faults[k]}" for k in FAULTS)),
            f"failed well-formed requests: {len(self.failures)}",
            f"max wait {self.max_wait_s:.2f} s (while locks were held: "
            f"{self.max_wait_with_locks_s:.2f} s)",
            f"locked tokens after settle {self.final_locked_tokens:.0f}; KV used tokens "
            f"idle {self.idle_used_tokens:.0f} -> after {self.final_used_tokens:.0f} "
            f"(settled in {self.settle_s:.1f} s)",
            f"health-check failures during the run: {self.health_failures}",
            f"leaks found: {len(self.leaks)}" + (f" {self.leaks}" if self.leaks else ""),
        ]


def _metric(url: str, name: str) -> float:
    """Sum of a metric's samples on /metrics; KeyError when the server exports none
    (a leak check must not pass because a gauge was renamed)."""
    samples = parse_metrics(requests.get(f"{url}/metrics", timeout=10).text)
    try:
        return metric_sum(samples, name)
    except KeyError:
        raise KeyError(f"{name} is not exported on {url}/metrics") from None


class Soak:
    def __init__(self, url: str, seed: int = 0, max_new: int = 8, tool_s: float = 1.0,
                 ttl_hints=(None, "1s", "3s", 2.5)):
        self.url = url
        self.rng = random.Random(seed)
        self.max_new = max_new
        self.tool_s = tool_s
        self.ttl_hints = ttl_hints
        self.report = SoakReport()
        self._lock = threading.Lock()
        self._locked_now = 0.0
        self._stop = threading.Event()

    # --- helpers ------------------------------------------------------------------------
    def _count(self, attr: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.report, attr, getattr(self.report, attr) + n)

    def _fault(self, kind: str) -> None:
        with self._lock:
            self.report.faults[kind] += 1

    def _post(self, body: dict, timeout: float = 300) -> requests.Response:
        locks_held = self._locked_now > 0
        t0 = time.monotonic()
        r = requests.post(f"{self.url}/generate", json=body, timeout=timeout)
        wait = time.monotonic() - t0
        with self._lock:
            self.report.max_wait_s = max(self.report.max_wait_s, wait)
            if locks_held or self._locked_now > 0:
                self.report.max_wait_with_locks_s = max(self.report.max_wait_with_locks_s,
                                                        wait)
        return r

    def _turn(self, ids, program, last, ttl, tool) -> list[int] | None:
        sp = {"max_new_tokens": self.max_new, "ignore_eos": True, "temperature": 0.0,
              "custom_params": program_fields(program, last, ttl, tool)}
        try:
            r = self._post({"input_ids": ids, "sampling_params": sp})
        except requests.RequestException as e:
            self._fail(program, f"{type(e).__name__}: {e}")
            return None
        if r.status_code != 200:
            self._fail(program, f"HTTP {r.status_code}: {r.text[:200]}")
            return None
        self._count("turns_served")
        return ids + r.json()["output_ids"]

    def _fail(self, program, why) -> None:
        with self._lock:
            self.report.failures.append((program, why))

    # --- scenarios ------------------------------------------------------------------------
    def program(self, rng: random.Random, vanish: bool) -> None:
        pid = f"soak-{uuid.uuid4().hex[:12]}"
        if not vanish:
            self._count("programs_started")
        turns = rng.randint(2, 4)
        vanish_after = rng.randint(0, turns - 2) if vanish else None
        ctx = random_ids(rng.randint(100, 600), rng.randrange(1 << 30))
        for turn in range(turns):
            last = turn == turns - 1
            ctx = self._turn(ctx, pid, last, rng.choice(self.ttl_hints),
                             rng.choice([None, "bash", "pytest"]))
            if ctx is None:
                return
            if turn == vanish_after:
                self._fault("vanish")  # its tool never returns: the lock must lapse
                return  # (a fault, not counted among the well-formed programs)
            if not last:
                time.sleep(rng.uniform(0, self.tool_s))
                ctx = ctx + random_ids(rng.randint(5, 60), rng.randrange(1 << 30))
        self._count("programs_finished")

    def disconnect(self, rng: random.Random) -> None:
        """stream=true, read until the first chunk, then close the socket."""
        pid = f"dc-{uuid.uuid4().hex[:8]}"
        body = json.dumps({"input_ids": random_ids(rng.randint(100, 400), rng.randrange(1 << 30)),
                           "stream": True,
                           "sampling_params": {"max_new_tokens": 200, "ignore_eos": True,
                                               "custom_params": program_fields(pid, ttl="5s")}})
        u = urlparse(self.url)
        with socket.create_connection((u.hostname, u.port), timeout=30) as s:
            s.sendall((f"POST /generate HTTP/1.1\r\nHost: {u.hostname}\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                       f"\r\n{body}").encode())
            s.recv(256)  # headers / first chunk arrived: the request is running
        self._fault("disconnect")

    def abort(self, rng: random.Random) -> None:
        rid = f"abort-{uuid.uuid4().hex}"
        pid = f"ab-{uuid.uuid4().hex[:8]}"
        sp = {"max_new_tokens": 300, "ignore_eos": True,
              "custom_params": program_fields(pid, ttl="5s")}
        out = {}

        def send():
            try:
                out["r"] = requests.post(f"{self.url}/generate", timeout=300, json={
                    "rid": rid, "input_ids": random_ids(300, rng.randrange(1 << 30)),
                    "sampling_params": sp})
            except requests.RequestException as e:
                out["e"] = e

        t = threading.Thread(target=send)
        t.start()
        time.sleep(rng.uniform(0.05, 1.0))  # waiting, mid-prefill or mid-decode
        requests.post(f"{self.url}/abort_request", json={"rid": rid}, timeout=30)
        t.join(timeout=300)
        if "e" in out:
            self._fail(pid, f"aborted request raised {out['e']}")
        self._fault("abort")

    def malformed(self, rng: random.Random) -> None:
        bad = rng.choice(BAD_FIELDS)
        r = requests.post(f"{self.url}/generate", timeout=30, json={
            "input_ids": [11, 12, 13],
            "sampling_params": {"max_new_tokens": 2, "custom_params": bad}})
        if r.status_code != 400:
            self._fail("malformed", f"{bad!r:.60} got HTTP {r.status_code}, expected 400")
        self._fault("malformed")

    # --- driver -------------------------------------------------------------------------
    def _worker(self, seed: int, deadline: float) -> None:
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            x = rng.random()
            try:
                if x < 0.55:
                    self.program(rng, vanish=False)
                elif x < 0.70:
                    self.program(rng, vanish=True)
                elif x < 0.80:
                    self.disconnect(rng)
                elif x < 0.90:
                    self.abort(rng)
                else:
                    self.malformed(rng)
            except Exception as e:  # a fault scenario's own socket error: record it
                self._fail("worker", f"{type(e).__name__}: {e}")

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            try:
                ok = requests.get(f"{self.url}/health", timeout=20).status_code == 200
                self._locked_now = _metric(self.url, "sglang_continuum_locked_tokens")
            except (requests.RequestException, KeyError):
                ok = False
            if not ok:
                self._count("health_failures")

    def probe_used_tokens(self) -> float:
        """Serve one fresh stock request (it refreshes SGLang's gauges) and read
        ``sglang:num_used_tokens``: KV that is neither free nor evictable."""
        ids = random_ids(PROBE_TOKENS, self.rng.randrange(1 << 30))
        requests.post(f"{self.url}/generate", timeout=120, json={
            "input_ids": ids, "sampling_params": {"max_new_tokens": 1}}).raise_for_status()
        return _metric(self.url, "sglang:num_used_tokens")

    def run(self, seconds: float, concurrency: int, settle_timeout: float = 120) -> SoakReport:
        self.report.idle_used_tokens = self.probe_used_tokens()
        deadline = time.monotonic() + seconds
        watcher = threading.Thread(target=self._watch, daemon=True)
        watcher.start()
        workers = [threading.Thread(target=self._worker, args=(self.rng.randrange(1 << 30),
                                                               deadline))
                   for _ in range(concurrency)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        self._stop.set()
        watcher.join()
        self._settle(settle_timeout)
        return self.report

    def _settle(self, timeout: float) -> None:
        t0 = time.monotonic()
        rep = self.report
        while True:
            rep.final_locked_tokens = _metric(self.url, "sglang_continuum_locked_tokens")
            rep.final_used_tokens = self.probe_used_tokens()
            if rep.final_locked_tokens == 0 and rep.final_used_tokens <= rep.idle_used_tokens:
                break
            if time.monotonic() - t0 > timeout:
                break
            time.sleep(1.0)
        rep.settle_s = time.monotonic() - t0
        if rep.final_locked_tokens != 0:
            rep.leaks.append(f"locked_tokens={rep.final_locked_tokens:.0f}")
        if rep.final_used_tokens > rep.idle_used_tokens:
            rep.leaks.append(f"num_used_tokens {rep.final_used_tokens:.0f} > idle "
                             f"{rep.idle_used_tokens:.0f}")


SOAK_SERVER_ARGS = ["--max-total-tokens", "8192", "--random-seed", "0",
                    "--continuum-max-ttl", "5", "--continuum-status-interval", "5",
                    "--max-running-requests", "8"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sglang-continuum-soak", description=__doc__)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--url", help="soak a running server (with the overlay) instead")
    ap.add_argument("--log-dir", type=Path, default=Path(tempfile.gettempdir()) / "sglang-continuum-soak")
    args = ap.parse_args(argv)

    def go(url: str, alive=lambda: True) -> int:
        rep = Soak(url, seed=args.seed).run(args.minutes * 60, args.concurrency)
        for line in rep.lines():
            print(line, flush=True)
        bad = bool(rep.leaks or rep.failures or not alive())
        print("RESULT:", "FAIL" if bad else "PASS")
        return 1 if bad else 0

    if args.url:
        return go(args.url.rstrip("/"))
    from sglang_continuum.launcher.server import launch

    with launch(SOAK_SERVER_ARGS, args.log_dir, name="soak") as server:
        return go(server.url, server.alive)


if __name__ == "__main__":
    raise SystemExit(main())
