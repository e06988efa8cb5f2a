"""The DP controller hook (adapter/dp_router.py) on hand-built requests and a fake
controller: explicit and inferred programs keep their rank, stock requests and
requests that already name a rank keep SGLang's method."""

from __future__ import annotations

from array import array
from types import SimpleNamespace

from sglang_continuum.adapter.dp_router import DpRouter, before_dp_dispatch


def _req(ids, program=None, rid="r", **extra):
    custom = {"program_id": program} if program else None
    return SimpleNamespace(rid=rid, input_ids=array("q", ids), routed_dp_rank=None,
                           sampling_params=SimpleNamespace(custom_params=custom),
                           routing_key=None, session_id=None, extra_key=None,
                           cache_salt=None, **extra)


def _controller(router, loads=(0, 0)):
    budget = SimpleNamespace(total_requests=list(loads))
    return SimpleNamespace(_continuum_dp_router=router, dp_budget=budget,
                           _active_workers=[0, 1], refresh_load_budget=lambda: None)


def test_explicit_program_keeps_its_rank_and_stock_requests_are_left_alone():
    ctl = _controller(DpRouter(infer_programs=False, ranks=2))
    first, stock = _req(range(100, 140), "a"), _req(range(100, 140))
    before_dp_dispatch(ctl, first)
    before_dp_dispatch(ctl, stock)
    assert first.routed_dp_rank == 0 and stock.routed_dp_rank is None
    ctl.dp_budget.total_requests = [5, 0]  # busier home, within max_imbalance
    nxt = _req(range(100, 150), "a")
    before_dp_dispatch(ctl, nxt)
    assert nxt.routed_dp_rank == 0
    other = _req(range(300, 340), "b")
    before_dp_dispatch(ctl, other)
    assert other.routed_dp_rank == 1  # a new program: the least loaded rank


def test_inferred_programs_follow_their_prompts_and_a_named_rank_wins():
    ctl = _controller(DpRouter(infer_programs=True, ranks=2))
    a1, b1 = _req(range(100, 140), rid="a1"), _req(range(500, 540), rid="b1")
    before_dp_dispatch(ctl, a1)
    before_dp_dispatch(ctl, b1)
    assert {a1.routed_dp_rank, b1.routed_dp_rank} == {0, 1}
    a2 = _req([*range(100, 140), 7, 8, 9], rid="a2")
    b2 = _req([*range(500, 540), 7, 8, 9], rid="b2")
    before_dp_dispatch(ctl, b2)
    before_dp_dispatch(ctl, a2)
    assert (a2.routed_dp_rank, b2.routed_dp_rank) == (a1.routed_dp_rank, b1.routed_dp_rank)
    named = _req([*range(100, 140), 7, 8, 9, 10], rid="a3")
    named.routed_dp_rank = 1 - a1.routed_dp_rank  # the client's choice is kept
    before_dp_dispatch(ctl, named)
    assert named.routed_dp_rank == 1 - a1.routed_dp_rank


def test_overlay_off_leaves_every_request_to_sglang():
    ctl = _controller(False)
    req = _req(range(100, 140), "a")
    before_dp_dispatch(ctl, req)
    assert req.routed_dp_rank is None
