"""The data-parallel rank rule (adapter/dp_routing.py): sticky, least loaded, moves."""

from __future__ import annotations

import pytest

from sglang_continuum.adapter.dp_routing import DpRoutingConfig, Route, StickyRanks


def test_every_turn_of_a_program_goes_to_its_home_while_loads_change():
    r = StickyRanks()
    assert r.route("a", [0, 0], {0, 1}) == Route(0, "new")
    for loads in ([1, 0], [3, 5], [7, 0]):  # within max_imbalance (8)
        assert r.route("a", loads, {0, 1}) == Route(0, "home")
    assert r.counts == {"home": 3, "new": 1, "moved_failed": 0, "moved_saturated": 0}


def test_new_programs_go_to_the_least_loaded_rank_and_ties_rotate():
    r = StickyRanks()
    assert r.route("a", [2, 1, 3], {0, 1, 2}).rank == 1
    # Idle server: equal loads alternate ranks instead of piling on rank 0.
    assert [r.route(k, [0, 0], {0, 1}).rank for k in "bcde"] == [0, 1, 0, 1]
    assert r.route("f", [0, 0, 0], {0, 2}).rank in {0, 2}  # only active ranks


def test_a_saturated_home_moves_the_program_to_the_least_loaded_rank():
    r = StickyRanks(DpRoutingConfig(max_imbalance=2))
    r.route("a", [0, 0], {0, 1})
    assert r.route("a", [2, 0], {0, 1}) == Route(0, "home")  # imbalance 2: stays
    assert r.route("a", [3, 0], {0, 1}) == Route(1, "moved_saturated")
    assert r.home("a") == 1  # the new rank is the new home
    assert r.route("a", [3, 1], {0, 1}) == Route(1, "home")
    assert r.counts["moved_saturated"] == 1


def test_a_failed_home_moves_the_program():
    r = StickyRanks()
    r.route("a", [0, 0], {0, 1})
    assert r.route("a", [0, 5], {1}) == Route(1, "moved_failed")
    assert r.route("a", [0, 5], {0, 1}) == Route(1, "home")  # stays on its new home


def test_homes_are_bounded_least_recently_routed_forgotten_first():
    r = StickyRanks(DpRoutingConfig(max_programs=2))
    for k in "abc":
        r.route(k, [0, 0], {0, 1})
    assert len(r) == 2 and r.home("a") is None and r.home("c") is not None
    r.forget("c")
    assert r.home("c") is None


def test_no_active_rank_and_bad_config_are_errors_naming_the_field():
    with pytest.raises(ValueError, match="no active rank"):
        StickyRanks().route("a", [0], set())
    with pytest.raises(ValueError, match="max_imbalance"):
        DpRoutingConfig(max_imbalance=-1)
    with pytest.raises(ValueError, match="max_programs"):
        DpRoutingConfig(max_programs=True)
