"""``sglang-continuum-soak`` (``python -m sglang_continuum.tools.soak``): many concurrent
agent programs plus injected faults against a real server, then a leak check.

Beside the agents: plain requests (no program id; their worst wait is compared with the
queue age cap), priority requests, and programs of tenants with long cache salts
(100 KiB and more, a fresh one each: the overlay's tables must not keep them).
Faults: programs that vanish mid-tool (no next turn), clients that disconnect
mid-stream (stream=true, socket closed), aborts (``POST /abort_request`` with the rid),
each both on a program's first turn and on a later turn of a program that HOLDS a lock
(a long TTL hint: the lock must be dropped or consumed, never left), and malformed
overlay fields (must get HTTP 400). Vanishing programs and faulted turns lock for a few
seconds only and every other lock ends with its program, so once those pass
``sglang_continuum_locked_tokens`` must be 0 and SGLang's KV usage back at its idle
level: a lock an abort left behind would still hold its long TTL. The scheduler
processes' resident memory is sampled throughout: it must be flat from the end of the
warm-up to the end. Without ``--url`` a server with the overlay is started and stopped
here.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
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
from sglang_continuum.core.config import PolicyConfig
from sglang_continuum.launcher.client import program_fields, random_ids

FAULTS = ("vanish", "disconnect", "abort", "locked_disconnect", "locked_abort", "malformed")
# A program that holds a lock before its turn is faulted asks for this TTL: a lock the
# fault left behind outlives the settle. The faulted turn itself asks for FAULT_HINT: it
# may still finish before the abort (or the disconnect) reaches the scheduler, and then
# its lock is a correct one.
LOCK_HINT = "600s"
FAULT_HINT = "3s"
VANISH_HINTS = ("1s", "3s", 2.5)  # a vanished program's lock lapses soon after the run
LONG_SALT_CHARS = 100 * 1024
RSS_CSV_EVERY_S = 10.0
# Request lengths are multiples of this (unless any_length): stock SGLang's scheduler on a
# CPU keeps about 3 MiB of native memory per distinct prompt length it has served (seen
# with --continuum-disable too; a repeated length adds nothing), so lengths drawn from a
# few hundred values grow its RSS for the whole run and hide a leak of the overlay's.
SHAPE_QUANTUM = 64
# The scheduler's RSS is flat when, from the end of the warm-up to the end of the run, it
# grew by at most this much (allocator pools and Python's free lists still settle then).
RSS_TOLERANCE_FRACTION = 0.05
RSS_TOLERANCE_BYTES = 64 * 2**20
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
    plain_served: int = 0
    priority_served: int = 0
    long_salt_programs: int = 0
    max_plain_wait_s: float = 0.0
    age_cap_s: float = PolicyConfig.queue_age_cap_s
    locks_dropped: float = 0.0  # sglang_continuum_locks_dropped_total over the run
    rss_start: int = 0  # bytes, all scheduler processes together, after the idle probe
    rss_warm: int = 0  # at the end of the warm-up (a tenth of the run)
    rss_end: int = 0  # after the settle
    rss_max: int = 0

    @property
    def leaked_tokens(self) -> float:
        return self.final_locked_tokens + max(0.0, self.final_used_tokens
                                               - self.idle_used_tokens)

    @property
    def rss_flat(self) -> bool:
        allowed = max(RSS_TOLERANCE_FRACTION * self.rss_warm, RSS_TOLERANCE_BYTES)
        return self.rss_end - self.rss_warm <= allowed

    def lines(self) -> list[str]:
        return [
            f"well-formed programs started {self.programs_started}, finished "
            f"{self.programs_finished}; turns served {self.turns_served} (vanishing programs "
            f"included)",
            "faults injected: " + (", ".join(f"{k} {self.faults[k]}" for k in FAULTS)),
            f"failed well-formed requests: {len(self.failures)}"
            + "".join(f"\n  {who}: {why:.160}" for who, why in self.failures[:5]),
            f"max wait {self.max_wait_s:.2f} s (while locks were held: "
            f"{self.max_wait_with_locks_s:.2f} s)",
            f"locked tokens after settle {self.final_locked_tokens:.0f}; KV used tokens "
            f"idle {self.idle_used_tokens:.0f} -> after {self.final_used_tokens:.0f} "
            f"(settled in {self.settle_s:.1f} s)",
            f"plain requests served {self.plain_served}, worst wait "
            f"{self.max_plain_wait_s:.2f} s (age cap {self.age_cap_s:.0f} s); priority "
            f"requests served {self.priority_served}; programs of long-salt tenants "
            f"{self.long_salt_programs}",
            f"locks dropped {self.locks_dropped:.0f}; leaked tokens {self.leaked_tokens:.0f}",
            f"scheduler RSS MiB: start {self.rss_start / 2**20:.1f}, after warm-up "
            f"{self.rss_warm / 2**20:.1f}, end {self.rss_end / 2**20:.1f}, max "
            f"{self.rss_max / 2**20:.1f} (flat: end - warm-up <= max("
            f"{RSS_TOLERANCE_FRACTION:.0%}, {RSS_TOLERANCE_BYTES // 2**20} MiB): "
            f"{'yes' if self.rss_flat else 'NO'}); after warm-up "
            f"{(self.rss_end - self.rss_warm) / 2**20 / max(1, self.turns_served) * 1000:.0f}"
            " MiB per 1,000 turns served",
            f"health-check failures during the run: {self.health_failures}",
            f"leaks found: {len(self.leaks)}" + (f" {self.leaks}" if self.leaks else ""),
        ]


def scheduler_rss(group: int | None) -> int:
    """Resident bytes of the SGLang scheduler processes (by their process title,
    ``sglang::scheduler...``) in process group `group` (the server's: other servers
    may run on this host), all together; 0 where none is found or `group` is None."""
    total = 0
    for pid in os.listdir("/proc") if group is not None else ():
        if not pid.isdigit():
            continue
        try:
            if os.getpgid(int(pid)) != group:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if not f.read(64).startswith(b"sglang::scheduler"):
                    continue
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):  # ProcessLookupError is an OSError
            continue  # a process that ended meanwhile
    return total


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
                 ttl_hints=(None, "1s", "3s", 2.5),
                 age_cap_s: float = PolicyConfig.queue_age_cap_s,
                 server_group: int | None = None, overlay: bool = True,
                 long_salts: bool = True, rss_csv: Path | None = None,
                 any_length: bool = False):
        self.server_group = server_group  # the server's process group (scheduler RSS)
        self.overlay = overlay  # False: a stock server (--continuum-disable), no lock gauges
        self.long_salts = long_salts
        self.any_length = any_length
        self.rss_csv = rss_csv  # one "seconds,rss_bytes" row every RSS_CSV_EVERY_S
        self.url = url
        self.rng = random.Random(seed)
        self.max_new = max_new
        self.tool_s = tool_s
        self.ttl_hints = ttl_hints
        self.report = SoakReport(age_cap_s=age_cap_s)
        self._lock = threading.Lock()
        self._locked_now = 0.0
        self._stop = threading.Event()

    # --- helpers ------------------------------------------------------------------------
    def _ids(self, rng: random.Random, lo: int, hi: int) -> list[int]:
        """A fresh prompt of lo..hi tokens (a multiple of SHAPE_QUANTUM unless any_length)."""
        n = rng.randint(lo, hi)
        if not self.any_length:
            n = max(SHAPE_QUANTUM, n // SHAPE_QUANTUM * SHAPE_QUANTUM)
        return random_ids(n, rng.randrange(1 << 30))

    def _append(self, rng: random.Random, ctx: list[int], lo: int, hi: int) -> list[int]:
        """`ctx` plus lo..hi new tokens (a tool's result), the sum rounded up to a
        multiple of SHAPE_QUANTUM unless any_length."""
        n = rng.randint(lo, hi)
        if not self.any_length:
            n += -(len(ctx) + n) % SHAPE_QUANTUM
        return ctx + random_ids(n, rng.randrange(1 << 30))

    def _count(self, attr: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.report, attr, getattr(self.report, attr) + n)

    def _fault(self, kind: str) -> None:
        with self._lock:
            self.report.faults[kind] += 1

    def _post(self, body: dict, timeout: float = 300, plain: bool = False
              ) -> requests.Response:
        locks_held = self._locked_now > 0
        t0 = time.monotonic()
        r = requests.post(f"{self.url}/generate", json=body, timeout=timeout)
        wait = time.monotonic() - t0
        with self._lock:
            self.report.max_wait_s = max(self.report.max_wait_s, wait)
            if plain:
                self.report.max_plain_wait_s = max(self.report.max_plain_wait_s, wait)
            if locks_held or self._locked_now > 0:
                self.report.max_wait_with_locks_s = max(self.report.max_wait_with_locks_s,
                                                        wait)
        return r

    def _turn(self, ids, program, last, ttl, tool, salt=None) -> list[int] | None:
        sp = {"max_new_tokens": self.max_new, "ignore_eos": True, "temperature": 0.0,
              "custom_params": program_fields(program, last, ttl, tool)}
        body = {"input_ids": ids, "sampling_params": sp}
        if salt is not None:
            body["cache_salt"] = salt
        try:
            r = self._post(body)
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
        salt = None
        if self.long_salts and rng.random() < 0.2:  # a long-salt tenant, fresh per program
            salt = f"{uuid.uuid4().hex}-" + "s" * (LONG_SALT_CHARS + rng.randrange(4096))
            self._count("long_salt_programs")
        turns = rng.randint(2, 4)
        vanish_after = rng.randint(0, turns - 2) if vanish else None
        hints = VANISH_HINTS if vanish else self.ttl_hints
        ctx = self._ids(rng, 100, 600)
        for turn in range(turns):
            last = turn == turns - 1
            ctx = self._turn(ctx, pid, last, rng.choice(hints),
                             rng.choice([None, "bash", "pytest"]), salt)
            if ctx is None:
                return
            if turn == vanish_after:
                self._fault("vanish")  # its tool never returns: the lock must lapse
                return  # (a fault, not counted among the well-formed programs)
            if not last:
                time.sleep(rng.uniform(0, self.tool_s))
                ctx = self._append(rng, ctx, 5, 60)
        self._count("programs_finished")

    def _locked_context(self, rng: random.Random, pid: str) -> list[int] | None:
        """A program's first turn, finished with a long TTL hint: the program now holds
        a lock (unless a bound refused it) while its 'tool' runs."""
        ids = self._ids(rng, 100, 400)
        r = requests.post(f"{self.url}/generate", timeout=300, json={
            "input_ids": ids, "sampling_params": {
                "max_new_tokens": 4, "ignore_eos": True, "temperature": 0.0,
                "custom_params": program_fields(pid, ttl=LOCK_HINT, tool="bash")}})
        if r.status_code != 200:
            self._fail(pid, f"first turn HTTP {r.status_code}: {r.text[:200]}")
            return None
        return self._append(rng, ids + r.json()["output_ids"], 20, 20)

    def disconnect(self, rng: random.Random, locked: bool = False) -> None:
        """stream=true, read until the first chunk, then close the socket. `locked`: a
        later turn of a program that holds a lock."""
        pid = f"dc-{uuid.uuid4().hex[:8]}"
        ids = self._locked_context(rng, pid) if locked else \
            self._ids(rng, 100, 400)
        if ids is None:
            return
        body = json.dumps({"input_ids": ids, "stream": True,
                           "sampling_params": {"max_new_tokens": 200, "ignore_eos": True,
                                               "custom_params": program_fields(
                                                   pid, ttl=FAULT_HINT)}})
        u = urlparse(self.url)
        with socket.create_connection((u.hostname, u.port), timeout=30) as s:
            s.sendall((f"POST /generate HTTP/1.1\r\nHost: {u.hostname}\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                       f"\r\n{body}").encode())
            s.recv(256)  # headers / first chunk arrived: the request is running
        self._fault("locked_disconnect" if locked else "disconnect")

    def abort(self, rng: random.Random, locked: bool = False) -> None:
        """POST /abort_request while the turn waits, prefills or decodes. `locked`: a
        later turn of a program that holds a lock."""
        rid = f"abort-{uuid.uuid4().hex}"
        pid = f"ab-{uuid.uuid4().hex[:8]}"
        ids = self._locked_context(rng, pid) if locked else \
            self._ids(rng, 300, 300)
        if ids is None:
            return
        sp = {"max_new_tokens": 300, "ignore_eos": True,
              "custom_params": program_fields(pid, ttl=FAULT_HINT)}
        out = {}

        def send():
            try:
                out["r"] = requests.post(f"{self.url}/generate", timeout=300, json={
                    "rid": rid, "input_ids": ids, "sampling_params": sp})
            except requests.RequestException as e:
                out["e"] = e

        t = threading.Thread(target=send)
        t.start()
        time.sleep(rng.uniform(0.05, 1.0))  # waiting, mid-prefill or mid-decode
        requests.post(f"{self.url}/abort_request", json={"rid": rid}, timeout=30)
        t.join(timeout=300)
        if "e" in out:
            self._fail(pid, f"aborted request raised {out['e']}")
        self._fault("locked_abort" if locked else "abort")

    def plain(self, rng: random.Random) -> None:
        """A request with no program id (stock traffic beside the agents); one in three
        carries a priority."""
        body = {"input_ids": self._ids(rng, 50, 400),
                "sampling_params": {"max_new_tokens": self.max_new, "ignore_eos": True}}
        prioritized = rng.random() < 1 / 3
        if prioritized:
            body["priority"] = rng.randint(-5, 5)
        try:
            r = self._post(body, plain=True)
        except requests.RequestException as e:
            self._fail("plain", f"{type(e).__name__}: {e}")
            return
        if r.status_code != 200:
            self._fail("plain", f"HTTP {r.status_code}: {r.text[:200]}")
            return
        self._count("priority_served" if prioritized else "plain_served")

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
        while time.monotonic() < deadline and not self._stop.is_set():
            x = rng.random()
            try:
                if x < 0.45:
                    self.program(rng, vanish=False)
                elif x < 0.55:
                    self.program(rng, vanish=True)
                elif x < 0.70:
                    self.plain(rng)
                elif x < 0.75:
                    self.disconnect(rng)
                elif x < 0.80:
                    self.disconnect(rng, locked=True)
                elif x < 0.85:
                    self.abort(rng)
                elif x < 0.92:
                    self.abort(rng, locked=True)
                else:
                    self.malformed(rng)
            except Exception as e:  # a fault scenario's own socket error: record it
                self._fail("worker", f"{type(e).__name__}: {e}")

    def _overlay_metric(self, name: str) -> float:
        return _metric(self.url, name) if self.overlay else 0.0

    def _watch(self, start: float, warm_at: float) -> None:
        csv = self.rss_csv.open("w") if self.rss_csv else None
        next_row = start
        while not self._stop.wait(1.0):
            rss = scheduler_rss(self.server_group)
            now = time.monotonic()
            if csv and now >= next_row:
                csv.write(f"{now - start:.0f},{rss}\n")
                csv.flush()
                next_row = now + RSS_CSV_EVERY_S
            with self._lock:
                rep = self.report
                rep.rss_max = max(rep.rss_max, rss)
                if not rep.rss_warm and time.monotonic() >= warm_at:
                    rep.rss_warm = rss
            try:
                ok = requests.get(f"{self.url}/health", timeout=20).status_code == 200
                self._locked_now = self._overlay_metric("sglang_continuum_locked_tokens")
            except (requests.RequestException, KeyError):
                ok = False
            if not ok:
                self._count("health_failures")
        if csv:
            csv.close()

    def probe_used_tokens(self) -> float:
        """Serve one fresh stock request (it refreshes SGLang's gauges) and read
        ``sglang:num_used_tokens``: KV that is neither free nor evictable."""
        ids = random_ids(PROBE_TOKENS, self.rng.randrange(1 << 30))
        requests.post(f"{self.url}/generate", timeout=120, json={
            "input_ids": ids, "sampling_params": {"max_new_tokens": 1}}).raise_for_status()
        return _metric(self.url, "sglang:num_used_tokens")

    def run(self, seconds: float, concurrency: int, settle_timeout: float = 120) -> SoakReport:
        self.report.idle_used_tokens = self.probe_used_tokens()
        self.report.rss_start = scheduler_rss(self.server_group)
        dropped = self._overlay_metric("sglang_continuum_locks_dropped_total")
        start = time.monotonic()
        deadline = start + seconds
        watcher = threading.Thread(target=self._watch, args=(start, start + seconds / 10),
                                   daemon=True)
        watcher.start()
        workers = [threading.Thread(target=self._worker, args=(self.rng.randrange(1 << 30),
                                                               deadline))
                   for _ in range(concurrency)]
        try:
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        finally:  # also on SIGTERM: the workers and the watcher stop with the run
            self._stop.set()
        watcher.join()
        self._settle(settle_timeout)
        rep = self.report
        rep.locks_dropped = self._overlay_metric("sglang_continuum_locks_dropped_total") - dropped
        rep.rss_end = scheduler_rss(self.server_group)
        rep.rss_warm = rep.rss_warm or rep.rss_start
        rep.rss_max = max(rep.rss_max, rep.rss_end)
        return rep

    def _settle(self, timeout: float) -> None:
        t0 = time.monotonic()
        rep = self.report
        while True:
            rep.final_locked_tokens = self._overlay_metric("sglang_continuum_locked_tokens")
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


# A long max TTL: a lock that a fault left behind outlives the settle and shows as a leak.
SOAK_SERVER_ARGS = ["--max-total-tokens", "8192", "--random-seed", "0",
                    "--continuum-max-ttl", "600", "--continuum-status-interval", "5",
                    "--max-running-requests", "8", "--enable-priority-scheduling"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sglang-continuum-soak", description=__doc__)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start-timeout", type=float, default=600.0,
                    help="seconds the started server may take to be ready (a loaded host)")
    ap.add_argument("--url", help="soak a running server (with the overlay, a long "
                    "--continuum-max-ttl and --enable-priority-scheduling) instead")
    ap.add_argument("--server-pgid", type=int,
                    help="with --url: the server's process group, whose scheduler "
                    "processes' RSS is reported (default: not measured)")
    ap.add_argument("--age-cap", type=float, default=PolicyConfig.queue_age_cap_s,
                    help="the server's queue age cap (queue_age_cap_s): plain requests' "
                    "worst wait must stay within it")
    ap.add_argument("--log-dir", type=Path, default=Path(tempfile.gettempdir()) / "sglang-continuum-soak")
    ap.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for the started server (repeat it); "
                    "--server-arg=--continuum-disable soaks stock SGLang (a bisect)")
    ap.add_argument("--no-long-salts", action="store_true",
                    help="no tenants with 100 KiB cache salts (a bisect)")
    ap.add_argument("--rss-csv", type=Path,
                    help=f"write the schedulers' RSS every {RSS_CSV_EVERY_S:.0f} s "
                    "(seconds,bytes) to this file")
    ap.add_argument("--any-length", action="store_true",
                    help="prompt lengths of any value, not multiples of "
                    f"{SHAPE_QUANTUM}: shows stock SGLang's per-length memory growth")
    args = ap.parse_args(argv)
    server_args = SOAK_SERVER_ARGS + args.server_arg
    overlay = "--continuum-disable" not in server_args

    def go(url: str, alive=lambda: True, group=None) -> int:
        rep = Soak(url, seed=args.seed, age_cap_s=args.age_cap, server_group=group,
                   overlay=overlay, long_salts=not args.no_long_salts,
                   rss_csv=args.rss_csv, any_length=args.any_length).run(args.minutes * 60, args.concurrency)
        for line in rep.lines():
            print(line, flush=True)
        bad = bool(rep.leaks or rep.failures or not alive() or not rep.rss_flat
                   or rep.max_plain_wait_s > rep.age_cap_s or rep.health_failures)
        print("RESULT:", "FAIL" if bad else "PASS")
        return 1 if bad else 0

    if args.url:
        return go(args.url.rstrip("/"), group=args.server_pgid)
    from sglang_continuum.launcher.server import launch

    def stop(signum, frame):  # SIGTERM: leave through `launch`, which stops the server
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    with launch(server_args, args.log_dir, name="soak",
                timeout=args.start_timeout) as server:
        return go(server.url, server.alive, os.getpgid(server.proc.pid))


if __name__ == "__main__":
    raise SystemExit(main())
