"""The simulator's candidate rule busy_share (``continuum_busy1``): locks give way to
any waiting request, as to an idle engine, while they hold more than the running
requests' contexts (docs/design.md, "Below the knee"). Not a server mechanism."""

from sglang_continuum.sim import Simulator
from tests.unit.test_sim_host_tier import _paused_older_program


def _admitted(policy: str) -> dict:
    progs, arrivals, prof = _paused_older_program()
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
