"""experiments/live/host_fidelity.py: each live arm it replays maps to the simulator
policy of the same rule (no simulation run here)."""

from __future__ import annotations

import pytest

from sglang_continuum.adapter.settings import Settings
from sglang_continuum.sim.policies import POLICIES
from tests.unit.live_modules import live_modules


@pytest.fixture(scope="module")
def modules():
    with live_modules("arms", "host_fidelity") as mods:
        yield mods


def test_every_mapped_arm_exists_and_every_policy_too(modules):
    arms, fid = modules
    for live, sim in fid.CURRENT_POLICY.items():
        arms.arm(live)  # raises on an unknown arm
        assert sim in POLICIES, (live, sim)
    assert set(fid.STOCK_POLICY) <= set(fid.CURRENT_POLICY)
    assert all(not arms.arm(a).overlay for a in fid.STOCK_POLICY)


def test_arms_replayed_as_the_default_run_the_default(modules):
    """A live arm replayed as "continuum" sets no knob away from the server's defaults,
    and leaves SGLang's queue policy alone (the default's order is the overlay's)."""
    arms, fid = modules
    default = Settings().to_mapping()
    as_default = [a for a, p in fid.CURRENT_POLICY.items() if p == "continuum"]
    assert "overlay-default" in as_default
    for name in as_default:
        arm = arms.arm(name)
        assert arm.overlay, name
        assert all(default[k] == v for k, v in arm.settings().items()), name
        assert "--schedule-policy" not in arm.flags, name


def test_stock_order_arms_leave_the_queue_to_sglang(modules):
    arms, fid = modules
    for name, policy in fid.CURRENT_POLICY.items():
        if not policy.startswith("continuum_order_"):
            continue
        arm = arms.arm(name)
        flags = list(arm.flags)
        assert flags[flags.index("--schedule-policy") + 1] == policy.rsplit("_", 1)[1]
        assert arm.settings() == {"program_fcfs": False, "queue_order": "fcfs"}, name
