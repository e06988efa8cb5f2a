"""The simulator's closed-loop load (the replay's ``Concurrency``): N programs at a time,
each finish starts the next program in order, at once."""

import pytest

from sglang_continuum.sim import Profile, Simulator, StepCoefficients
from sglang_continuum.sim.sweep import RunSpec, run_one
from sglang_continuum.sim.workload import ProgramSpec, Turn

K = StepCoefficients(a=0.0, b=0.001, c=0.0, d0=0.01, d1=0.0, d2=0.0)


def progs(n):
    return [ProgramSpec(f"P{i}", (Turn(100, 10, ("bash",), 0.5), Turn(150, 10)))
            for i in range(n)]


def run(n, concurrency):
    sim = Simulator(progs(n), None, Profile("tiny", K, 100_000, 4096, 256), "lru",
                    concurrency=concurrency)
    sim.run()
    return {p.program_id: p for p in sim.program_records}


def test_one_at_a_time_runs_back_to_back():
    recs = run(3, 1)
    assert recs["P0"].arrival == 0.0
    assert recs["P1"].arrival == recs["P0"].finish
    assert recs["P2"].arrival == recs["P1"].finish
    # each program alone: prefill 100 tokens, 9 decode steps, 0.5 s gap, prefill the
    # 41 tokens past the 109 cached (the last output token has no KV yet), 9 steps
    assert recs["P0"].jct == pytest.approx(0.1 + 0.09 + 0.5 + 0.041 + 0.09)
    assert recs["P2"].jct == pytest.approx(recs["P0"].jct)


def test_never_more_than_n_programs_running():
    recs = list(run(7, 3).values())
    assert sorted(r.arrival for r in recs)[:3] == [0.0, 0.0, 0.0]
    for r in recs:
        active = sum(1 for o in recs if o.arrival <= r.arrival < o.finish)
        assert active <= 3


def test_concurrency_above_programs_starts_all_at_zero():
    assert all(r.arrival == 0.0 for r in run(4, 10).values())


@pytest.mark.parametrize("arrivals,concurrency", [(None, None), ([0.0], 1), (None, 0)])
def test_bad_load_rejected(arrivals, concurrency):
    with pytest.raises(ValueError, match="arrivals|concurrency"):
        Simulator(progs(1), arrivals, Profile("tiny", K, 1000), "lru", concurrency=concurrency)


def test_run_spec_closed_loop():
    s = run_one(RunSpec("swebench", "llama3.1-8b-h100", "lru", 0.0, programs=3,
                         concurrency=1))
    assert s.programs == 3 and s.aborted_programs == 0


def test_run_spec_caps_the_running_batch():
    """RunSpec.max_running replaces the profile's (--max-running-requests): with one
    request at a time, three programs at once take longer than uncapped."""
    base = dict(workload="swebench", profile="llama3.1-8b-h100", policy="lru", rate=0.0,
                programs=3, concurrency=3)
    free = run_one(RunSpec(**base))
    capped = run_one(RunSpec(**base, max_running=1))
    assert capped.programs == free.programs == 3 and capped.aborted_programs == 0
    assert capped.jct_mean > free.jct_mean
