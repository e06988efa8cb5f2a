"""experiments/sim/regime: ratios a small N cannot reach collapse into one point, counted
once, with the target of the working set reached."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _regime():
    spec = importlib.util.spec_from_file_location(
        "run_regime", ROOT / "experiments" / "sim" / "regime" / "run_regime.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _pt(ws, kv, ws_ratio, host="none"):
    return dict(profile="8b", workload="trace", load="at", n=4, ws=ws, kv=kv,
                ws_ratio=ws_ratio, host=host)


def test_capped_ratios_are_one_point_with_every_requested_ratio():
    rr = _regime()
    pts = [_pt(1.0, 40_000, 1.0), _pt(2.0, 21_000, 1.9), _pt(4.0, 21_000, 1.9),
           _pt(8.0, 21_000, 1.9), _pt(2.0, 21_000, 1.9, host="1x")]
    assert rr._duplicates(pts) == {2: 1, 3: 1}
    kept = rr.distinct(pts)
    assert [p["ws_requested"] for p in kept] == [[1.0], [2.0, 4.0, 8.0], [2.0]]


def test_the_target_follows_the_working_set_reached():
    rr = _regime()
    arms = {a: {"mean": 10.0, "p95": 12.0} for a in (*rr.BEST_STOCK, "gate", rr.DEFAULT)}
    capped = dict(_pt(8.0, 21_000, 1.9, host="1x"), arms=arms)
    rr.finish(capped, floor=5.0)
    assert capped["host_holds_ws"] and capped["target_mean"] == rr.TARGET_MEAN
    past = dict(_pt(4.0, 10_000, 3.8, host="1x"), arms=dict(arms))
    rr.finish(past, floor=5.0)
    assert not past["host_holds_ws"] and past["target_mean"] == rr.TARGET_CONTENDED
