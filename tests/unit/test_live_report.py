"""experiments/live: interleaving order and the summary (best stock arm, ratio, ranges)."""

from __future__ import annotations

import json

import pytest

from tests.unit.live_modules import imported, live_modules


@pytest.fixture(scope="module")
def live():
    with live_modules("run", "report") as mods:
        yield mods


def _run(arm, rep, jcts, hit=0.5):
    progs = [{"complete": True, "jct_s": j, "turns": [
        {"queue_s": 1.0, "ttft_s": 3.0, "e2e_s": 4.0, "prompt_tokens": 100,
         "cached_tokens": 40}] * 2} for j in jcts]
    mean = sum(jcts) / len(jcts)
    return {"live": {"arm": arm, "load": "contended", "rep": rep, "loadavg_before": [1, 1, 1],
                     "loadavg_after": [2, 2, 2], "overlay_counters": {}, "command": "c",
                     "started": f"2026-01-01 00:00:0{rep}"},
            "summary": {"jct_mean_s": mean, "jct_p95_s": max(jcts), "programs_per_min": 60 / mean,
                        "cache_hit_ratio": hit, "completed": len(jcts), "programs": len(jcts)},
            "programs": progs}


def test_order_rotates_and_reverses(live):
    run, _ = live
    names = ["a", "b", "c"]
    orders = [run.order(names, r) for r in range(3)]
    assert orders == [["a", "b", "c"], ["a", "c", "b"], ["c", "a", "b"]]
    assert [o[0] for o in orders] != ["a"] * 3


def test_summary_picks_the_best_stock_arm_and_ratios(live, tmp_path):
    _, report = live
    runs = [_run("stock-lru", r, [100 + r, 110 + r]) for r in range(3)] \
        + [_run("stock-tlru", r, [90 + r, 100 + r]) for r in range(3)] \
        + [_run("overlay-default", r, [40 + r, 60 + r]) for r in range(3)]
    cell = report.summarize(runs)["trace/contended"]
    assert cell["best_stock"] == "stock-tlru"
    assert cell["ratio_vs_best_stock"]["jct_mean_s"] == pytest.approx(51 / 96)
    assert cell["ranges_separate"] is True  # 3 repeats each
    d = cell["arms"]["overlay-default"]
    assert d["jct_mean_s"] == {"median": 51, "min": 50, "max": 52}
    # per program: 2 turns of queue 1, prefill 2, decode 1; tool = JCT - 8
    assert d["breakdown"]["queue_s"] == 2 and d["breakdown"]["prefill_s"] == 4
    assert d["breakdown"]["decode_s"] == 2 and d["breakdown"]["missed_tokens"] == 120
    (tmp_path / "results").mkdir()
    for i, r in enumerate(runs):
        (tmp_path / "results" / f"{i}.json").write_text(json.dumps(r))
    report.write_all(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["cells"]["trace/contended"]["best_stock"] == "stock-tlru"
    assert "ratio_vs_best_stock" in summary["cells"]["trace/contended"]
    assert (tmp_path / "jct-cdf-trace-contended.png").exists()
    assert "| overlay-default | 3 | 51.0 (50.0-52.0)" in (tmp_path / "results.md").read_text()


def test_transparent_gain_and_host_tier_ratio(live):
    _, report = live
    runs = [_run("stock-lru", r, [100, 100]) for r in range(2)] \
        + [_run("stock-hicache-wt", r, [80, 80]) for r in range(2)] \
        + [_run("overlay-default", r, [50, 50]) for r in range(2)] \
        + [_run("overlay-transparent", r, [55, 55]) for r in range(2)] \
        + [_run("overlay-transparent-fcfs", r, [52, 52]) for r in range(2)] \
        + [_run("overlay-hicache", r, [40, 40]) for r in range(2)] \
        + [_run("overlay-hicache-wb", r, [60, 60]) for r in range(2)]
    cell = report.summarize(runs)["trace/contended"]
    # The best stock arm is the best of all stock arms, host tier included.
    assert cell["best_stock"] == "stock-hicache-wt"
    # The default (no host tier) is also compared like for like.
    assert cell["best_stock_without_host_tier"] == "stock-lru"
    assert cell["ratio_vs_best_stock_without_host_tier"]["jct_mean_s"] == pytest.approx(0.5)
    # Transparent vs explicit: gains over the best stock arm without a host tier.
    assert cell["transparent"]["baseline"] == "stock-lru"
    assert cell["transparent"]["gain_fraction"] == pytest.approx(45 / 50)
    assert cell["transparent"]["variants"] == {"overlay-transparent-fcfs": pytest.approx(48 / 50)}
    assert cell["hicache"]["best_stock_hicache"] == "stock-hicache-wt"
    assert cell["hicache"]["ratio"]["jct_mean_s"] == pytest.approx(0.5)
    # Every overlay arm with a host tier is compared with the same best stock HiCache arm.
    assert cell["hicache"]["by_arm"]["overlay-hicache-wb"]["jct_mean_s"] == pytest.approx(0.75)


def test_the_host_tier_ratio_is_the_defaults_2x_arm_whatever_ran_first(live):
    # "ratio" reads the default's arm at the 2x host pool (as by_host_tier does), not
    # the first overlay arm with HiCache that happened to run (here the 1x one).
    _, report = live
    runs = [_run("overlay-hicache-fits-wb-drop-h1", r, [70, 70]) for r in range(2)] \
        + [_run("stock-hicache-lpm", r, [40, 40]) for r in range(2)] \
        + [_run("overlay-hicache-fits-wb-drop", r, [42, 42]) for r in range(2)]
    h = report.summarize(runs)["trace/contended"]["hicache"]
    assert h["default_arm"] == "overlay-hicache-fits-wb-drop"
    assert h["ratio"]["jct_mean_s"] == pytest.approx(42 / 40)


def test_calibration_sets_the_gpu_ratio(live):
    arms, calibrate = imported("arms", "calibrate")
    # rebuild : gap at the chosen scale equals the GPU's 2.4 : 1.8
    ts = calibrate.time_scale_for(rebuild_s=0.6, gap_s=1.4)
    assert 0.6 / (1.4 * ts) == pytest.approx(2.4 / 1.8, rel=0.01)
    # clamped: a machine 100x faster does not shrink tools to nothing
    assert calibrate.time_scale_for(0.001, 1.4) == calibrate.TIME_SCALE_RANGE[0]
    s = calibrate.scaled(arms.FULL, 0.5)
    assert s.scaling.time_scale == 0.5 and s.scaling.max_gap_s == 2.5
    assert s.scaling.token_scale == arms.FULL.scaling.token_scale


def test_plain_traffic_ttft_vs_stock(live):
    _, report = live
    runs = []
    for arm, p99 in (("stock-lru", 2.0), ("overlay-default", 3.0)):
        for r in range(2):
            run = _run(arm, r, [100, 100])
            run["live"]["load"] = "mixed"
            run["plain"] = {"ttft_mean_s": p99 / 2, "ttft_p99_s": p99, "requests": 30}
            runs.append(run)
    cell = report.summarize(runs)["trace/mixed"]
    assert cell["plain_vs_stock_lru"]["overlay-default"]["ttft_p99_s"] == pytest.approx(1.5)
    text = report.markdown({"trace/mixed": cell}, runs)
    assert "| overlay-default | 30 (30-30) | 1.50 (1.50-1.50) | 3.00 (3.00-3.00) | x1.50 |" in text


def test_sim_fidelity_workload_round_trips_through_the_trace_schema(live, tmp_path):
    from sglang_continuum.workload import load

    arms, sim_fidelity = imported("arms", "sim_fidelity")

    programs = load("trace", 0, arms.QUICK.scaling)
    path = tmp_path / "w.jsonl"
    path.write_text(sim_fidelity.trace_lines(programs))
    assert load(str(path), 0) == programs


def test_tlru_arm_passes_sglangs_own_check(live):
    """SGLang refuses tlru unless threshold > next_prompt_estimate (seen live)."""
    from sglang.srt.arg_groups.kv_cache_hook import handle_cache_compatibility
    from sglang.srt.server_args import prepare_server_args

    arms = imported("arms")

    flags = list(arms.arm("stock-tlru").flags)
    args = prepare_server_args(["--model-path", "x", *flags])
    assert args.radix_eviction_policy_config["threshold"] > 0
    handle_cache_compatibility(args)  # raises ValueError on a config SGLang refuses


def test_host_link_gives_the_gpus_reload_to_rebuild_ratio(live):
    import calibrate

    r = calibrate.gpu_reload_to_rebuild()
    assert 0.03 < r < 0.15  # 8B/H100: 40k tokens reload in ~0.16 s, rebuild in ~2.4 s
    hl = calibrate.host_link({"rebuild_ref_context_s": 0.5, "ref_context_tokens": 2000},
                             "testbed-100m")
    # 2,000 tokens x 8 KiB reload in r x 0.5 s at the paced rate.
    assert 2000 * 8192 / hl["bytes_per_s"] == pytest.approx(r * 0.5, rel=1e-3)
    assert hl["host_reload"]["b"] * 2000 == pytest.approx(r * 0.5, rel=1e-3)


def test_memory_is_recorded_and_reported(live):
    run, report = live
    m = run.memory()
    assert m["mem_available_mib"] > 0 and m["pswpin"] >= 0  # Linux
    runs = [{"live": {"arm": a, "memory_before": {**m, "pswpout": 5},
                      "memory_serving": {**m, "mem_available_mib": x, "pswpout": 5}}}
            for a, x in (("stock-hicache-wb", 900), ("stock-lru", 1200))]
    text = "\n".join(report.memory_lines(runs))
    assert "900 MiB at the lowest (stock-hicache-wb)" in text
    assert "pages swapped in or out during the runs: 0" in text


def test_opt_in_loads_are_named_not_run_by_default(live):
    """solo and open run only when named; an unknown name is refused, naming
    the accepted ones; open arrives at Poisson times over more programs."""
    import arms

    assert [ld.name for ld in arms.pick_loads(arms.FULL, None)] == \
        ["contended", "light", "mixed"]
    picked = arms.pick_loads(arms.FULL, "open,contended")
    assert [ld.name for ld in picked] == ["open", "contended"]
    assert picked[0].rate > 0 and picked[0].programs > arms.FULL.scaling.programs
    assert arms.pick_loads(arms.FULL, "solo")[0].concurrency == 1
    with pytest.raises(ValueError, match="unknown nope; accepted: contended, light, mixed, "
                       "solo, open"):
        arms.pick_loads(arms.FULL, "contended,nope")


def test_solo_cell_gives_the_no_contention_floor(live):
    _, report = live

    def run(arm, rep, load, jcts):
        r = _run(arm, rep, jcts)
        r["live"]["load"] = load
        for i, p in enumerate(r["programs"]):
            p["program_id"] = "ab"[i]
        return r

    runs = [run("stock-hicache-wb", 0, "solo", [4.0, 6.0]),
            run("stock-hicache-wb", 1, "solo", [5.0, 8.0]),
            run("overlay-hicache", 0, "solo", [6.0, 7.0]),
            run("stock-hicache-wb", 0, "contended", [10.0, 14.0]),
            run("stock-lru", 0, "contended", [20.0, 24.0])]
    cells = report.summarize(runs)
    # medians per program: a 5.0, b 7.0 -> floor 6.0; best stock arms: 12 s, with HiCache too
    f = cells["trace/contended"]["floor"]
    assert f["jct_mean_s"] == pytest.approx(6.0)
    assert f["vs"] == {"stock-hicache-wb": pytest.approx(0.5)}  # best overall and with HiCache
    assert "floor" not in cells["trace/solo"]
    assert f["x_floor"] == {"stock-hicache-wb": pytest.approx(2.0),
                            "stock-lru": pytest.approx(22.0 / 6.0)}
    text = report.markdown(cells, runs)
    assert "mean JCT 6.00 s; x0.50 of `stock-hicache-wb`" in text
    assert "Distance to the floor (mean JCT / the floor): `stock-hicache-wb` x2.00, " \
        "`stock-lru` x3.67." in text
    # A cell with programs the solo cell did not run gets no floor.
    other = run("stock-lru", 0, "open", [1.0, 2.0])
    other["programs"][1]["program_id"] = "z"
    assert "floor" not in report.summarize(runs + [other])["trace/open"]


def test_best_stock_spans_every_stock_arm_and_host_tier_arms_get_ratios(live):
    _, report = live
    runs = [_run("stock-lpm", r, [100 + r, 110 + r]) for r in range(2)] \
        + [_run("stock-hrrn", r, [95 + r, 105 + r]) for r in range(2)] \
        + [_run("stock-hicache-spf", r, [60 + r, 70 + r]) for r in range(2)] \
        + [_run("stock-hicache-sessions", r, [62 + r, 72 + r]) for r in range(2)] \
        + [_run("overlay-default", r, [70 + r, 80 + r]) for r in range(2)] \
        + [_run("overlay-hicache", r, [50 + r, 66 + r]) for r in range(2)]
    for r in runs[:2]:
        r["live"]["loadavg_after"] = [7.5, 2, 2]
    cell = report.summarize(runs)["trace/contended"]
    assert cell["best_stock"] == "stock-hicache-spf"
    assert cell["ratio_vs_best_stock"]["jct_mean_s"] == pytest.approx(75.5 / 65.5)
    by_arm = cell["ratio_vs_best_stock_by_arm"]
    assert by_arm["overlay-hicache"]["jct_mean_s"] == pytest.approx(58.5 / 65.5)
    assert by_arm["overlay-hicache"]["jct_p95_s"] == pytest.approx(66.5 / 70.5)
    assert cell["ranges_separate"] is True
    assert cell["best_stock_without_host_tier"] == "stock-hrrn"
    assert cell["loadavg_1min"] == {"min": 1, "max": 7.5}


def test_cells_are_named_by_workload(live):
    _, report = live
    runs = [_run("stock-lpm", 0, [10, 20]), _run("overlay-default", 0, [8, 12])]
    runs[1]["live"]["workload"] = "swebench"
    assert sorted(report.summarize(runs)) == ["swebench/contended", "trace/contended"]


def test_run_labels_and_workload_knobs(live, tmp_path):
    run, _ = live
    import arms
    from dataclasses import replace
    assert run.run_label(arms.FULL, "contended", "stock-lpm", 1) == "contended-stock-lpm-r1"
    s = replace(arms.FULL, workload="some/dir/coding.jsonl.gz")
    assert run.run_label(s, "solo", "x", 0) == "coding-solo-x-r0"
    assert replace(arms.FULL, workload="swebench").workload_name == "swebench"


def test_each_host_pool_size_is_compared_with_its_own_best_stock_arm(live):
    _, report = live
    runs = [_run("stock-lpm", r, [100, 100]) for r in range(2)] \
        + [_run("stock-spf", r, [90, 90]) for r in range(2)] \
        + [_run("overlay-default", r, [40 + r, 40 + r]) for r in range(2)] \
        + [_run("stock-hicache-lpm", r, [30, 30]) for r in range(2)] \
        + [_run("overlay-hicache", r, [31, 31]) for r in range(2)] \
        + [_run("stock-hicache-lpm-h1", r, [50, 50]) for r in range(2)] \
        + [_run("stock-hicache-spf-h1", r, [60, 60]) for r in range(2)] \
        + [_run("overlay-hicache-h1", r, [35, 35]) for r in range(2)] \
        + [_run("stock-hicache-lpm-h05", r, [70, 70]) for r in range(2)]
    by_host = report.summarize(runs)["trace/contended"]["by_host_tier"]
    # no host tier: against the best stock arm without one (spf), not the HiCache ones
    assert by_host["none"]["best_stock"] == "stock-spf"
    assert by_host["none"]["ratio_vs_best_stock"]["jct_mean_s"] == pytest.approx(40.5 / 90)
    assert by_host["none"]["target_met"] and by_host["none"]["ranges_separate"]
    # host 2x: 31 / 30 misses mean <= 1.0
    assert by_host["host 2x"]["best_stock"] == "stock-hicache-lpm"
    assert not by_host["host 2x"]["target_met"]
    # host 1x: its own pool size only (lpm-h1, spf-h1), 35 / 50 = 0.7 <= 0.75
    assert by_host["host 1x"]["stock_arms"] == ["stock-hicache-lpm-h1", "stock-hicache-spf-h1"]
    assert by_host["host 1x"]["ratio_vs_best_stock"]["jct_mean_s"] == pytest.approx(0.7)
    assert by_host["host 1x"]["target_met"]
    # host 0.5x: no overlay arm ran there, so no comparison
    assert "host 0.5x" not in by_host


def test_the_solo_cell_is_the_floor_and_has_no_target(live):
    _, report = live
    runs = [_run("stock-lru", r, [20, 20]) for r in range(2)] \
        + [_run("overlay-default", r, [21, 21]) for r in range(2)]
    for r in runs:
        for i, p in enumerate(r["programs"]):
            p["program_id"] = f"p{i}"
    solo = [dict(r, live={**r["live"], "load": "solo"}) for r in runs]
    out = report.summarize(runs + solo)
    assert "by_host_tier" in out["trace/contended"]
    assert "by_host_tier" not in out["trace/solo"]
    assert "Per host pool" not in report.markdown(out, runs + solo).split("## trace/solo")[1]


def test_the_batch_limited_cell_is_compared_within_itself(live):
    """The "-b2" arms (running batch capped, a roomy pool) are another server: their
    default is compared with their own best stock arm only, and they are never the best
    stock arm of the cell's other comparisons."""
    _, report = live
    runs = [_run("stock-lpm", r, [100, 100]) for r in range(2)] \
        + [_run("overlay-default", r, [40, 40]) for r in range(2)] \
        + [_run("stock-lpm-b2", r, [30, 30]) for r in range(2)] \
        + [_run("stock-spf-b2", r, [28, 28]) for r in range(2)] \
        + [_run("overlay-default-b2", r, [29, 29]) for r in range(2)]
    out = report.summarize(runs)["trace/contended"]
    assert out["best_stock"] == "stock-lpm"
    assert out["by_host_tier"]["none"]["stock_arms"] == ["stock-lpm"]
    batch = out["by_host_tier"]["none, running batch capped at 2"]
    assert batch["stock_arms"] == ["stock-lpm-b2", "stock-spf-b2"]
    assert batch["best_stock"] == "stock-spf-b2"
    assert batch["ratio_vs_best_stock"]["jct_mean_s"] == pytest.approx(29 / 28)
    assert batch["target"] == {"jct_mean_s": 0.7} and not batch["target_met"]


def test_batch_limited_arms_cap_the_batch_and_size_their_own_pool(live):
    with live_modules("arms") as arms:
        b2 = arms.arm("overlay-default-b2")
        flags = arms.server_flags(b2, 6000, "testbed-100m")
        assert flags[flags.index("--max-total-tokens") + 1] == str(arms.ROOMY_POOL)
        assert flags.count("--max-total-tokens") == 1
        assert flags[flags.index("--max-running-requests") + 1] == "2"
        plain = arms.server_flags(arms.arm("overlay-default"), 6000, "testbed-100m")
        assert plain[plain.index("--max-total-tokens") + 1] == "6000"
        assert "--max-running-requests" not in plain


def test_the_capacity_bound_of_a_cell(live):
    """Each host-pool cell gets the capacity bound of its best stock arm's server
    (sim/bounds.py) from the solo cell, and the bound at the rate its runs measured."""
    _, report = live

    def turn(start, e2e):
        return {"start_s": start, "queue_s": 0.0, "e2e_s": e2e, "ttft_s": e2e / 2,
                "prompt_tokens": 100, "cached_tokens": 0}

    def run(arm, load, jct, turns):
        r = _run(arm, 0, [jct, jct])
        r["live"].update(load=load, concurrency=2, pool_tokens=24_000,
                         server_flags=["--max-running-requests", "2"])
        for pid, p in zip("ab", r["programs"]):
            p.update(program_id=pid, turns=turns)
        return r

    # alone: 3 s each, 2 s of it in the server; together: both in service over [0, 2]
    # and [3, 5], so the engine did 4 solo seconds in 4 s of service: rate 1.0
    together = [turn(0.0, 2.0), turn(3.0, 2.0)]
    runs = [run("stock-spf-b2", "solo", 3.0, [turn(0.0, 1.0), turn(2.0, 1.0)]),
            run("stock-spf-b2", "contended", 4.5, together),
            run("overlay-default-b2", "contended", 4.0, together)]
    cell = report.summarize(runs)["trace/contended"]["by_host_tier"][
        "none, running batch capped at 2"]
    b = cell["bound"]
    # two slots at solo speed: each done by 2 s, the floors (3 s) bind
    assert b["jct_mean_s"] == pytest.approx(3.0) and b["binding"] == "floor"
    assert b["target_feasible"]  # 0.7 x 4.5 = 3.15 >= 3.0
    r = b["at_engine_rate"]
    assert r["engine_rate"] == pytest.approx(1.0) and r["runs"] == 2
    # one solo second per second: the second program done no earlier than 4 s
    assert r["jct_mean_s"] == pytest.approx(3.5)
    assert not r["target_feasible"]
    # the rate credits each program the seconds it is given (_bounds: its most alone)
    assert report.engine_rate(runs[1], {"a": 3.0, "b": 3.0}) == pytest.approx(1.5)
    assert report.engine_rate(runs[1], {"a": 3.0}) is None  # a program it cannot credit
    text = "\n".join(report.bound_lines({"by_host_tier": {"x": cell}}))
    assert "3.00 s, bound by floor" in text and "no scheduler meets it at the rate" in text
