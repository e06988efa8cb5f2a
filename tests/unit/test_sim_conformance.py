"""Determinism, and conformance of the simulator's core calls with the adapter path:
the sequence of (arrival, admitted, finish, lock, expiry, pressure) calls the simulator
makes, replayed through a fresh ContinuumPolicy, yields identical decisions."""

from dataclasses import replace

import pytest

from sglang_continuum.core import ContinuumPolicy
from sglang_continuum.sim import Simulator, load_profile, poisson_arrivals
from sglang_continuum.sim.cli import main
from sglang_continuum.sim.recorder import RecordingPolicy, replay
from sglang_continuum.sim.workload import load_trace, load_workload

VOLATILE = ("sim_wall_s", "sim_requests_per_s")


def small_profile():
    # A small KV so that locks, pressure releases and evictions all happen.
    return replace(load_profile("llama3.1-8b-h100"), kv_capacity_tokens=60_000)


def summary(policy, seed, rate=0.5):
    progs = load_workload("swebench", 30, seed)
    s = Simulator(progs, poisson_arrivals(30, rate, seed), small_profile(), policy).run()
    d = s.to_dict()
    for k in VOLATILE:
        d.pop(k)
    return d


@pytest.mark.parametrize("policy", ["continuum", "lru", "keep_until_close"])
def test_same_seed_same_results(policy):
    assert summary(policy, 1) == summary(policy, 1)
    assert summary(policy, 1)["jct_mean"] != summary(policy, 2)["jct_mean"]


@pytest.mark.parametrize("policy", ["continuum", "old_default", "paper", "fixed_2",
                                    "fixed_60"])
def test_core_calls_replay_identically_on_a_fresh_policy(policy):
    cores = []

    def wrap(core):
        rec = RecordingPolicy(core)
        cores.append(rec)
        return rec

    progs = load_workload("swebench", 40, 3)
    sim = Simulator(progs, poisson_arrivals(40, 0.5, 3), small_profile(), policy,
                    wrap_core=wrap)
    s = sim.run()
    log = cores[0].log
    names = {name for name, _, _ in log}
    assert {"on_arrival", "on_admitted", "on_finish", "set_lock", "expired"} <= names
    assert s.policy_snapshot["locks_set"] > 0
    fresh = ContinuumPolicy(cores[0].inner.config, cores[0].inner.capacity_tokens)
    assert replay(log, fresh) == [result for _, _, result in log]
    assert fresh.snapshot() == cores[0].inner.snapshot()


def test_arrival_admit_finish_sequence_matches_turn_records():
    cores = []
    progs = load_workload("bfcl", 10, 0)
    sim = Simulator(progs, poisson_arrivals(10, 0.2, 0), load_profile("llama3.1-8b-h100"),
                    "continuum",
                    wrap_core=lambda c: cores.append(RecordingPolicy(c)) or cores[-1])
    s = sim.run()
    assert s.aborted_programs == 0 and s.retractions == 0
    log = cores[0].log
    per_key = {}
    for name, args, _ in log:
        if name in ("on_arrival", "on_admitted", "on_finish"):
            per_key.setdefault(args[0][1], []).append(name)
    for spec in progs:
        n = len(spec.turns)
        assert per_key[spec.program_id] == ["on_arrival", "on_admitted", "on_finish"] * n


def test_trace_loader_and_cli(tmp_path, capsys):
    progs = load_trace(limit=5)
    assert len(progs) == 5 and all(p.turns for p in progs)
    assert main(["--workload", "trace", "--programs", "5", "--policy", "lru,continuum",
                 "--rate", "0.05", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| trace | continuum |" in out and "simulated requests/s" in out
    assert (tmp_path / "summaries.json").exists()
