import json

import pytest

from sglang_continuum.replay import ProgramResult, TurnResult, summarize
from sglang_continuum.replay.cli import build_parser, main


def test_load_flags_are_exclusive_and_required():
    ap = build_parser()
    with pytest.raises(SystemExit):
        ap.parse_args(["--url", "u", "--rate", "1", "--concurrency", "2"])
    with pytest.raises(SystemExit):
        ap.parse_args(["--url", "u"])
    a = ap.parse_args(["--url", "u", "--concurrency", "2", "--token-scale", "0.0625",
                       "--max-gap", "5"])
    assert (a.concurrency, a.token_scale, a.max_gap_s) == (2, 0.0625, 5.0)


def test_bad_knob_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        main(["--url", "u", "--concurrency", "1", "--token-scale", "0"])
    assert "token_scale" in capsys.readouterr().err


def test_compare(tmp_path, capsys):
    paths = []
    for label, end in (("a", 10.0), ("b", 6.0)):
        r = ProgramResult("p", 0.0, 1, [TurnResult(0, 0, .1, .2, .1, "ttft", 5, 5, 0, 1)], end)
        s = {**summarize([r]), "label": label}
        p = tmp_path / f"{label}.json"
        p.write_text(json.dumps({"label": label, "summary": s, "programs": [r.to_dict()]}))
        paths.append(str(p))
    assert main(["compare", *paths, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| a | 1 | 10.0 |" in out and "| b | 1 | 6.0 |" in out
    assert (tmp_path / "compare-jct-cdf.png").exists()


def test_sessions_and_plain_agents_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        main(["--url", "u", "--concurrency", "1", "--sessions", "--plain-agents"])
    assert "--plain-agents" in capsys.readouterr().err
