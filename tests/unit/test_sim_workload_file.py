"""``python -m sglang_continuum.sim --workload my_trace.jsonl``: a user's own trace file
(the replay's schema), and one clear error naming the field for a malformed one."""

import json

import pytest

from sglang_continuum.sim.cli import main


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


ROWS = [
    {"job_id": "a", "turns": [{"in": 500, "out": 20, "tools": ["bash"], "gap_s": 0.5},
                              {"in": 700, "out": 30, "tools": [], "gap_s": None}]},
    {"job_id": "b", "turns": [{"in": 300, "out": 10}]},
]


def test_a_trace_file_is_simulated(tmp_path, capsys):
    trace = _write(tmp_path / "my_trace.jsonl", ROWS)
    assert main(["--workload", str(trace), "--policy", "lru,continuum", "--rate", "0.5",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| my_trace.jsonl | continuum |" in out
    summaries = json.loads((tmp_path / "summaries.json").read_text())
    assert [s["programs"] for s in summaries] == [2, 2]
    assert [s["turns"] for s in summaries] == [3, 3]


@pytest.mark.parametrize("row, field", [
    ({"job_id": "c", "turns": [{"in": 0, "out": 5}]}, "turns[0].in"),
    ({"job_id": "c", "turns": [{"in": 10, "out": 5, "gap_s": -1}]}, "turns[0].gap_s"),
    ({"job_id": "c", "turns": [{"in": 10, "out": 5, "tools": "bash"}]}, "turns[0].tools"),
    ({"turns": [{"in": 10, "out": 5}]}, "job_id"),
    ({"job_id": "a", "turns": [{"in": 10, "out": 5}]}, "job_id"),  # duplicate of line 1
])
def test_a_malformed_file_is_one_error_naming_line_and_field(tmp_path, capsys, row, field):
    trace = _write(tmp_path / "bad.jsonl", [ROWS[0], row])
    with pytest.raises(SystemExit) as exc:
        main(["--workload", str(trace), "--policy", "lru"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"bad.jsonl:2: field {field!r}" in err and "Traceback" not in err


def test_neither_a_preset_nor_a_file(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--workload", str(tmp_path / "missing.jsonl"), "--policy", "lru"])
    assert "not 'trace', a preset" in capsys.readouterr().err
