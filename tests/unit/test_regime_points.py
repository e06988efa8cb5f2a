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


def _batch():
    import sys
    sys.path.insert(0, str(ROOT / "experiments" / "sim" / "regime"))
    try:
        spec = importlib.util.spec_from_file_location(
            "run_batch", ROOT / "experiments" / "sim" / "regime" / "run_batch.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(ROOT / "experiments" / "sim" / "regime"))
    return mod


def test_batch_slice_caps_the_batch_below_n_and_round_trips(tmp_path):
    """The batch-limited slice: every point's running-batch cap is its share of N (at
    least 1), below N, so the batch binds; a point whose default is slower than the
    best stock arm is not "not worse"; the kept summary rebuilds the same report."""
    rb = _batch()
    knees = {wl: {"n": n} for wl, n in (("trace", 4), ("swebench", 16), ("bfcl", 4),
                                         ("long", 64))}
    pts = rb.points("8b", knees)
    assert len(pts) == (len(rb.rr.WORKLOADS) * len(rb.LOADS) * len(rb.RATIOS)
                        * len(rb.BATCH_SHARES) * len(rb.HOSTS))
    assert all(1 <= p["cap"] < p["n"] and p["cap"] == max(1, round(p["n"] * p["share"]))
               for p in pts)
    assert rb.spec(pts[0], "lru", "0").max_running == pts[0]["cap"]
    for i, p in enumerate(pts[:2]):
        p["floor"] = 5.0
        p["arms"] = {a: {"mean": 10.0, "p95": 12.0} for a in (*rb.BEST_STOCK, "gate")}
        p["arms"][rb.rr.DEFAULT] = {"mean": 10.5 if i else 9.0, "p95": 12.0}
        rb.finish(p)
    assert pts[0]["not_worse"] and not pts[1]["not_worse"]
    res = {"profile": "8b", "knees": {k: v["n"] for k, v in knees.items()}, "wall_s": 1,
           "command": "c", "points": pts[:2]}
    rb.report(res, tmp_path)
    first = (tmp_path / "results.md").read_text()
    rb.report(rb.expand(rb.compact(res)), tmp_path)
    assert (tmp_path / "results.md").read_text() == first
    assert "never worse" in first.lower() and "1 of 2" in first


def test_a_target_below_the_capacity_bound_is_marked_and_counted():
    rr = _regime()

    def point(best, default, bound):
        arms = {a: {"mean": best * 1.5, "p95": 12.0} for a in (*rr.BEST_STOCK, "gate")}
        arms["lpm"]["mean"] = best
        arms[rr.DEFAULT] = {"mean": default, "p95": 12.0}
        pt = dict(_pt(4.0, 10_000, 3.8), arms=arms, bound=bound, bound_by="kv")
        rr.finish(pt, floor=5.0)
        return pt

    below = point(best=10.0, default=9.0, bound=8.0)   # 0.7x of 10 = 7 < 8
    reach = point(best=10.0, default=9.0, bound=6.0)
    assert not below["feasible"] and reach["feasible"]
    assert below["vs_bound"]["best_stock"] == 10.0 / 8.0
    text = " ".join(rr.bound_lines([below, reach]))
    assert "at 2 of 2 points" in text and "2 points where the default's mean misses" in text
    assert "1 have a target below the bound" in text and "kv 1" in text
    # an arm below its bound is counted: the bound's own check can fail
    broken = point(best=10.0, default=9.0, bound=12.0)
    assert "at 0 of 1 points" in " ".join(rr.bound_lines([broken]))
    # summaries from before the bound say so instead
    assert "--add-bounds" in rr.bound_lines([point(10.0, 9.0, None)])[0]
