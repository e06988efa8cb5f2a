import json

import pytest

from sglang_continuum.workload import BUNDLED_TRACE, TraceError, load_trace, parse_line

GOOD = {"job_id": "j1", "turns": [
    {"in": 100, "cached": 0, "out": 5, "tools": ["Bash"], "gap_s": 0.5},
    {"in": 130, "cached": 100, "out": 0, "tools": ["Read", "Bash"], "gap_s": None},
    {"in": 150, "out": 7, "tools": [], "gap_s": 3.0}]}


def _write(tmp_path, rows):
    p = tmp_path / "t.jsonl"
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return p


def test_parses_good_lines(tmp_path):
    progs = load_trace(_write(tmp_path, [GOOD, {**GOOD, "job_id": "j2"}]))
    assert [p.program_id for p in progs] == ["j1", "j2"]
    t = progs[0].turns
    assert [x.prompt for x in t] == [100, 130, 150]
    assert t[1].output == 1          # out 0 still costs a decode step
    assert t[1].gap_s == 0.0         # null gap
    assert t[2].gap_s == 0.0         # the last turn has no tool time
    assert t[1].tool == "Bash/Read"  # several tools: sorted, joined


@pytest.mark.parametrize("turn_patch, field", [
    ({"in": -1}, "turns[1].in"),
    ({"in": "12"}, "turns[1].in"),
    ({"in": True}, "turns[1].in"),
    ({"out": 2.5}, "turns[1].out"),
    ({"tools": "Bash"}, "turns[1].tools"),
    ({"tools": [""]}, "turns[1].tools"),
    ({"gap_s": -0.1}, "turns[1].gap_s"),
    ({"gap_s": "1s"}, "turns[1].gap_s"),
    ({"cached": 999}, "turns[1].cached"),
])
def test_turn_errors_name_line_and_field(tmp_path, turn_patch, field):
    bad = json.loads(json.dumps(GOOD))
    bad["job_id"] = "j2"
    bad["turns"][1].update(turn_patch)
    with pytest.raises(TraceError) as e:
        load_trace(_write(tmp_path, [GOOD, "", bad]))
    assert e.value.line == 3 and e.value.field == field
    assert ":3:" in str(e.value) and field in str(e.value)


def test_missing_field_is_named(tmp_path):
    bad = json.loads(json.dumps(GOOD))
    del bad["turns"][0]["out"]
    with pytest.raises(TraceError, match=r"turns\[0\]\.out.*missing"):
        load_trace(_write(tmp_path, [bad]))


@pytest.mark.parametrize("line, field", [
    ("{not json", "<line>"), ("[1, 2]", "<line>"),
    (json.dumps({"turns": GOOD["turns"]}), "job_id"),
    (json.dumps({"job_id": "x", "turns": []}), "turns"),
    (json.dumps({"job_id": "x", "turns": [3]}), "turns[0]"),
])
def test_line_errors(line, field):
    with pytest.raises(TraceError) as e:
        parse_line(line, 7, "f.jsonl")
    assert (e.value.line, e.value.field) == (7, field)
    assert str(e.value).startswith("f.jsonl:7:")


def test_duplicate_job_id(tmp_path):
    with pytest.raises(TraceError, match="duplicate.*line 1") as e:
        load_trace(_write(tmp_path, [GOOD, GOOD]))
    assert e.value.line == 2


def test_limit(tmp_path):
    p = _write(tmp_path, [GOOD, {**GOOD, "job_id": "j2"}, "{broken"])
    assert len(load_trace(p, limit=2)) == 2  # stops before the broken line


def test_shared_trace_loads():
    progs = load_trace(BUNDLED_TRACE)
    assert len(progs) == 299
    assert sum(len(p.turns) for p in progs) == 14459
