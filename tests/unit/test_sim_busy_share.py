"""The simulator's candidate rule busy_share (``continuum_busy1``): locks give way to
any waiting request, as to an idle engine, while they hold more than the running
requests' contexts (docs/design.md, "Below the knee"). Not a server mechanism."""

from sglang_continuum.sim import Profile, Simulator, StepCoefficients
from sglang_continuum.sim.workload import ProgramSpec, Turn


def _older_lock_younger_head():
    # A (oldest) pauses 20 s holding ~600 of 2,000 tokens; C (a 100-token prompt)
    # decodes for ~10 s, so the engine is busy; B (youngest) needs 1,000 tokens at 1 s:
    # it fits only if A's lock gives way. No host tier.
    k = StepCoefficients(a=0.0, b=0.001, c=0.0, d0=0.01, d1=0.0, d2=0.0,
                         reload_tokens_per_s=1e5)
    prof = Profile("tiny", k, 2000, chunk_size=4096, max_running=256)
    progs = [ProgramSpec("A", (Turn(600, 2, ("bash",), 20.0), Turn(610, 2))),
             ProgramSpec("C", (Turn(100, 1000),)),
             ProgramSpec("B", (Turn(1000, 2),))]
    return progs, [0.0, 0.5, 1.0], prof


def _admitted(policy: str) -> dict:
    progs, arrivals, prof = _older_lock_younger_head()
    sim = Simulator(progs, arrivals, prof, policy)
    sim.run()
    return {(t.program_id, t.turn): t for t in sim.turn_records}


def test_a_lock_outweighing_the_running_contexts_gives_way_to_a_younger_program():
    default, busy = _admitted("continuum"), _admitted("continuum_busy1")
    # scope "younger": A's lock does not give way to B while C runs
    assert default[("B", 0)].admitted > 5.0
    # busy_share 1: A's 600 locked tokens outweigh C's running context (~100-200
    # tokens at 1 s), so A's lock gives way and B goes at once; A rebuilds its context
    assert busy[("B", 0)].admitted < 2.0
    assert busy[("A", 1)].hit < default[("A", 1)].hit
