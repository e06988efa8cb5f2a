"""Real agent programs run beside the fuzz cases: multi-turn, with a program id, holding
a TTL lock on their context while their (simulated) tool runs.

The pause between turns stands for the tool's run time; it is the workload, not a wait
for server state.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import requests

from sglang_continuum.launcher.client import program_fields, random_ids


@dataclass
class AgentResult:
    program: str
    turns_done: int = 0
    cached_tokens: int = 0
    prompt_tokens: int = 0
    errors: list[str] = field(default_factory=list)


def run_program(url: str, program: str, turns: int, seed: int,
                timeout: float) -> AgentResult:
    rng = random.Random(seed)
    res = AgentResult(program)
    context = random_ids(rng.randrange(200, 600), seed)
    for turn in range(turns):
        last = turn == turns - 1
        new = rng.randrange(2, 9)
        sp = {"max_new_tokens": new, "ignore_eos": True, "temperature": 0.0,
              "custom_params": program_fields(program, last=last, ttl="3s", tool="pytest")}
        try:
            r = requests.post(f"{url}/generate", json={"input_ids": context,
                              "sampling_params": sp}, timeout=timeout)
        except requests.RequestException as e:
            res.errors.append(f"turn {turn}: {type(e).__name__}: {e}"[:300])
            return res
        if r.status_code != 200:
            res.errors.append(f"turn {turn}: HTTP {r.status_code}: {r.text[:200]}")
            return res
        meta = r.json()["meta_info"]
        if meta["completion_tokens"] != new:
            res.errors.append(f"turn {turn}: {meta['completion_tokens']} tokens, asked {new}")
        res.turns_done += 1
        res.cached_tokens += meta.get("cached_tokens", 0)
        res.prompt_tokens += meta["prompt_tokens"]
        context = context + r.json()["output_ids"] + random_ids(rng.randrange(20, 120),
                                                                seed * 31 + turn)
        if not last:
            time.sleep(rng.uniform(0.05, 0.8))  # the tool runs
    return res


class Agents:
    """Threads that each run agent programs one after another until ``finish`` is
    called; a program under way always runs to its last turn."""

    def __init__(self, url: str, threads: int, turns: int, seed: int, timeout: float):
        self._results: list[AgentResult] = []
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._args = (url, turns, seed, timeout)
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True,
                                          name=f"fuzz-agent-{i}") for i in range(threads)]

    def _loop(self, i: int) -> None:
        url, turns, seed, timeout = self._args
        k = 0
        while not self._done.is_set():
            res = run_program(url, f"fuzz-agent-{seed}-{i}-{k}", turns,
                              seed * 100_003 + i * 1009 + k, timeout)
            with self._lock:
                self._results.append(res)
            if res.errors:  # the server is failing: one report per thread is enough
                return
            k += 1

    def start(self) -> "Agents":
        for t in self._threads:
            t.start()
        return self

    def finish(self, timeout: float) -> tuple[list[AgentResult], bool]:
        """Let the programs under way end; (results, whether every thread ended)."""
        self._done.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            return (sorted(self._results, key=lambda r: r.program),
                    not any(t.is_alive() for t in self._threads))
