"""The overhead bench's in-process parts run at a tiny size and report sane structure.

Timings are not checked (a unit test on a shared 2-core machine cannot time anything);
the end-to-end part needs servers and is left to the bench command itself.
"""

from __future__ import annotations

import math

import pytest

from benchmarks.overhead import CacheSpec, PolicySpec
from benchmarks.overhead.cache_bench import OPS
from benchmarks.overhead.cache_bench import run as run_cache
from benchmarks.overhead.policy_bench import run as run_policy
from benchmarks.overhead.report import markdown, verdicts
from benchmarks.overhead.stats import growth_exponent, ratios, spread

pytest.importorskip("sglang")


def _is_spread(s: dict, n: int) -> bool:
    return s["n"] == n and s["min"] <= s["median"] <= s["max"] and math.isfinite(s["median"])


def test_stats_helpers():
    assert spread([3, 1, 2]) == {"min": 1.0, "median": 2.0, "max": 3.0, "n": 3}
    assert ratios([2, 3], [1, 3]) == [2.0, 1.0]
    assert growth_exponent([10, 100, 1000], [5, 50, 500]) == pytest.approx(1.0)
    assert growth_exponent([10, 100, 1000], [1, 100, 10_000]) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        ratios([1], [1, 2])


@pytest.fixture(scope="module")
def cache_result():
    return run_cache(CacheSpec(programs=6, turns=4, pool_tokens=24_576, repeats=2),
                     log=lambda *_: None)


def test_cache_part_compares_overlay_with_both_baselines(cache_result):
    mixes = cache_result["mixes"]
    assert set(mixes) == {"stock", "inferred", "agent"}
    assert set(mixes["stock"]) == {"stock"}
    assert set(mixes["inferred"]) == set(mixes["agent"]) == {"stock", "pinned"}
    for rows in mixes.values():
        for row in rows.values():
            assert _is_spread(row["ratio"]["cache_ops_total"], 2)
            for op in OPS:
                assert row["calls"][op] >= 1, op  # the pool is small enough to evict
                assert _is_spread(row["ratio"][f"{op}_median"], 2), op
    # Stock traffic: both trees saw the same operations. Agent traffic: the pinned arm
    # replays the overlay's locks, so its tree (and hits) are the overlay's.
    stock = mixes["stock"]["stock"]
    assert stock["overlay"]["hit_tokens"] == stock["baseline"]["hit_tokens"]
    pinned = mixes["agent"]["pinned"]
    assert pinned["overlay"]["hit_tokens"] == pinned["baseline"]["hit_tokens"]
    assert pinned["overlay"]["locks"]["locks_set"] >= 1
    # No ids, inference off: nothing locked. Inference on: the programs are found from
    # their prompts (real token ids), so locks are set, and the replay reproduces them.
    assert stock["overlay"]["locks"]["locks_set"] == 0
    inferred = mixes["inferred"]["pinned"]
    assert inferred["overlay"]["hit_tokens"] == inferred["baseline"]["hit_tokens"]
    assert inferred["overlay"]["locks"]["locks_set"] >= 1
    assert cache_result["script"]["programs"] == 6


def test_policy_part_reports_sizes_parts_and_exponents():
    res = run_policy(PolicySpec(programs=(20, 40, 80), durations=300, steps=10,
                                warmup_steps=2, repeats=1), log=lambda *_: None)
    assert list(res["sizes"]) == ["20", "40", "80"]
    for n, row in res["sizes"].items():
        assert set(row) == {"step", "expiry", "queue", "ttl", "gate"}
        assert _is_spread(row["step"]["us"], 1)
        assert set(row["step"]["last"]["parts_mean_us"]) == {"tick", "sort", "admit",
                                                               "finish", "arrive"}
        assert row["expiry"]["last"]["locks"] == int(n)
        assert row["queue"]["last"]["waiting"] == int(n)
        assert row["ttl"]["last"]["duration_samples"] >= 300
        # the gate's worst pass: n residents fill the pool, every new program held
        gate = row["gate"]["last"]
        assert gate["residents"] == int(n) and gate["held"] == gate["waiting"] >= 1
    assert set(res["growth_exponent"]) == {"step", "expiry", "queue", "ttl", "gate"}
    dec = res["decision"]
    assert dec["durations"] == 300
    assert dec["uncontended"]["last"]["price"] == 1.0
    assert dec["contended"]["last"]["price"] == 0.0
    assert dec["contended"]["last"]["duration_samples"] >= 300
    assert _is_spread(dec["contended"]["us"], 1)
    assert 1.0 < res["nlogn_exponent"] < 1.5


def test_report_renders_and_judges(cache_result):
    res = {"cache": cache_result}
    names = [name for name, _, _ in verdicts(res)]
    assert any("stock traffic" in n for n in names)
    assert any("agent traffic, overlay/pinned" in n for n in names)
    assert any("inferred traffic, overlay/pinned" in n for n in names)
    text = markdown(res)
    assert "overlay vs pinned" in text and "## Targets" in text


def test_spec_validation():
    with pytest.raises(ValueError, match="mixes"):
        CacheSpec(mixes=("nope",))
    with pytest.raises(ValueError, match="programs"):
        PolicySpec(programs=(1,))


def test_decision_part_alone_is_judged_against_the_target(capsys):
    from benchmarks.overhead.cli import main as bench_main
    assert bench_main(["--parts", "decision", "--quick", "--out", "-"]) == 0
    out = capsys.readouterr().out
    assert "TTL decision (on_finish) at 500 durations" in out
    assert "TTL decision <= 10 us per finished turn, uncontended, 500 durations" in out
    assert "TTL decision <= 10 us per finished turn, contended, 500 durations" in out
