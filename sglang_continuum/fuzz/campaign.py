"""Run cases in batches against a live server, beside real agent programs, and check the
server after each batch and at the end.

Pass: the server answers /health after every batch, no case is a failure verdict (see
``send``), every agent program finished all its turns, and once idle no token is locked
and the KV pool is whole (``/v1/loads`` reports 0 used tokens before and after
``/flush_cache``).
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import requests
from tqdm import tqdm

from sglang_continuum.fuzz.agents import AgentResult, Agents
from sglang_continuum.fuzz.cases import Case
from sglang_continuum.fuzz.send import FAILURES, Outcome, send

LOCKED = "sglang_continuum_locked_tokens"


@dataclass(frozen=True)
class Options:
    batch: int = 40
    concurrency: int = 6
    timeout: float = 180.0  # one request
    agent_threads: int = 3
    agent_turns: int = 4
    seed: int = 0
    settle_timeout: float = 120.0  # idle, locks lapsed, pool whole


@dataclass
class Result:
    outcomes: list[Outcome] = field(default_factory=list)
    agents: list[AgentResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    final: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems and not any(o.verdict in FAILURES for o in self.outcomes)


def metric(url: str, name: str) -> float:
    """Sum of a metric's samples on /metrics; raises KeyError when it is absent."""
    text = requests.get(f"{url}/metrics", timeout=30).text
    pat = re.compile(rf"^{re.escape(name)}(\{{.*\}})? (\S+)$")
    vals = [float(m.group(2)) for m in map(pat.match, text.splitlines()) if m]
    if not vals:
        raise KeyError(f"metric {name!r} not on {url}/metrics")
    return sum(vals)


def load(url: str) -> dict:
    """The scheduler's live load snapshot (rank 0)."""
    return requests.get(f"{url}/v1/loads", timeout=30).json()["loads"][0]


def healthy(url: str, alive: Callable[[], bool], deadline_s: float = 90.0) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and alive():
        try:
            if requests.get(f"{url}/health", timeout=30).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return False


def wait_for(check: Callable[[], object], timeout: float) -> tuple[bool, object]:
    """Poll `check` (returns (ok, value)) until ok or the deadline; last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ok, value = check()
        except (requests.RequestException, KeyError, ValueError) as e:
            ok, value = False, f"{type(e).__name__}: {e}"
        if ok or time.monotonic() > deadline:
            return ok, value
        time.sleep(0.25)


def settle(url: str, timeout: float) -> tuple[dict, list[str]]:
    """Wait until idle with nothing locked, then check the pool, flush, check again."""
    problems, final = [], {}

    def idle():
        ld = load(url)
        return ld["num_running_reqs"] == 0 and ld["num_waiting_reqs"] == 0, ld
    for name, check in [
        ("idle", idle),
        ("locked_tokens == 0", lambda: (lambda v: (v == 0, v))(metric(url, LOCKED))),
        ("used_tokens == 0", lambda: (lambda v: (v == 0, v))(load(url)["num_used_tokens"])),
    ]:
        ok, value = wait_for(check, timeout)
        final[name] = value if name != "idle" else {k: value[k] for k in (
            "num_running_reqs", "num_waiting_reqs")} if isinstance(value, dict) else value
        if not ok:
            problems.append(f"not settled: {name} (last seen {value!r})")
    ok, value = wait_for(lambda: (lambda r: (r.status_code == 200, r.text[:200]))(
        requests.post(f"{url}/flush_cache", timeout=30)), 30)
    final["flush_cache"] = value
    if not ok:
        problems.append(f"/flush_cache failed: {value!r}")
    ld = load(url)
    final["after_flush"] = {k: ld[k] for k in ("num_used_tokens", "max_total_num_tokens")}
    if ld["num_used_tokens"] != 0:
        problems.append(f"pool not whole after flush: {ld['num_used_tokens']} used")
    return final, problems


def run(url: str, cases: list[Case], opts: Options,
        alive: Callable[[], bool] = lambda: True, progress: bool = True) -> Result:
    res = Result()
    t0 = time.monotonic()
    agents = Agents(url, opts.agent_threads, opts.agent_turns, opts.seed,
                    opts.timeout).start() if opts.agent_threads else None
    bar = tqdm(total=len(cases), desc="fuzz", unit="case", disable=not progress)
    with ThreadPoolExecutor(opts.concurrency) as pool:
        for start in range(0, len(cases), opts.batch):
            chunk = cases[start:start + opts.batch]
            for out in pool.map(lambda c: send(url, c, opts.timeout), chunk):
                res.outcomes.append(out)
                bar.update(1)
            bad = sum(o.verdict in FAILURES for o in res.outcomes)
            bar.set_postfix(failures=bad)
            if not healthy(url, alive):
                res.problems.append(
                    f"server dead or unhealthy after cases {start}-{start + len(chunk) - 1}")
                break
    bar.close()
    if agents is not None:
        res.agents, ended = agents.finish(opts.timeout * (opts.agent_turns + 1))
        if not ended:
            res.problems.append("agent programs did not end")
        for a in res.agents:
            if a.errors:
                res.problems.append(f"agent {a.program}: {'; '.join(a.errors)}")
    if not res.problems:
        res.final, problems = settle(url, opts.settle_timeout)
        res.problems += problems
    res.seconds = time.monotonic() - t0
    return res
