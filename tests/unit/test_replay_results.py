import json

import pytest

from sglang_continuum.replay import ProgramResult, TurnResult, summarize
from sglang_continuum.replay.report import markdown_table, plot_jct_cdf, plot_vs_load
from sglang_continuum.replay.run import save


def turn(i, start, prompt, cached, out=4):
    return TurnResult(i, start, 0.1, 0.5, 0.05, "server", prompt, prompt, cached, out)


def program(pid, arrival, end, n=2, planned=2):
    r = ProgramResult(pid, arrival, planned, [turn(i, arrival + i, 100, 50 * i) for i in range(n)])
    r.end_s = end
    return r


def test_summary_numbers():
    progs = [program("a", 0.0, 10.0), program("b", 5.0, 25.0), program("c", 6.0, None, n=1)]
    s = summarize(progs)
    assert (s["programs"], s["completed"], s["turns"]) == (3, 2, 5)
    assert s["jct_mean_s"] == 15.0 and s["jct_p50_s"] == 15.0
    assert s["jct_p99_s"] == pytest.approx(19.9)
    assert s["makespan_s"] == 25.0
    assert s["programs_per_min"] == pytest.approx(2 / 25 * 60)
    assert s["prompt_tokens"] == 500 and s["cached_tokens"] == 100
    assert s["cache_hit_ratio"] == pytest.approx(0.2)
    assert s["output_tokens_per_s"] == pytest.approx(20 / 25)


def test_empty_summary_and_table():
    s = summarize([])
    assert s["jct_mean_s"] is None and s["cache_hit_ratio"] is None
    table = markdown_table([{**s, "label": "x"}])
    assert table.splitlines()[2].startswith("| x | 0 | - |")


def test_save_and_plots(tmp_path):
    progs = [program("a", 0.0, 10.0), program("b", 1.0, 4.0)]
    out = {"label": "run1", "url": "u", "load": "concurrency 2", "interrupted": False,
           "meta": {"scaling": {"token_scale": 0.5}}, "summary": summarize(progs),
           "programs": [p.to_dict() for p in progs]}
    paths = save(out, tmp_path)
    assert {p.name for p in paths} == {"run1.json", "run1.md", "run1-jct-cdf.png"}
    assert json.loads((tmp_path / "run1.json").read_text())["programs"][0]["jct_s"] == 10.0
    assert "token_scale=0.5" in (tmp_path / "run1.md").read_text()
    plot_jct_cdf({"a": [1, 2], "b": []}, tmp_path / "c.png")
    plot_vs_load({"arm": [(1, 2.0, 3.0), (2, 4.0, 6.0)]}, tmp_path / "l.png", "load")
    assert (tmp_path / "c.png").stat().st_size > 1000 and (tmp_path / "l.png").exists()
