import pytest

from sglang_continuum.workload import Program, Scaling, Turn, load


def prog():
    return Program("p", (Turn(1600, 800, ("a",), 4.0), Turn(3200, 16, ("b",), 20.0),
                         Turn(4800, 160, (), 0.0)))


def test_scales_tokens_and_times_and_caps():
    s = Scaling(token_scale=1 / 16, time_scale=0.5, output_cap=32, max_gap_s=5)
    t = s.program(prog()).turns
    assert [x.prompt for x in t] == [100, 200, 300]
    assert [x.output for x in t] == [32, 1, 10]
    assert [x.gap_s for x in t] == [2.0, 5.0, 0.0]


def test_max_turns_makes_a_last_turn():
    t = Scaling(max_turns=2).program(prog()).turns
    assert len(t) == 2 and t[-1].gap_s == 0.0


def test_programs_and_describe():
    s = Scaling(programs=3, token_scale=0.5)
    assert len(s.apply([prog()] * 5)) == 3
    assert s.describe()["token_scale"] == 0.5


@pytest.mark.parametrize("kw", [{"token_scale": 0}, {"time_scale": -1}, {"max_turns": 0},
                                {"output_cap": 1.5}, {"max_gap_s": -2}, {"programs": True}])
def test_validation(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        Scaling(**kw)


def test_load_synthetic_and_errors():
    progs = load("bfcl", seed=2, scaling=Scaling(programs=4, token_scale=0.01))
    assert len(progs) == 4
    with pytest.raises(ValueError, match="not a preset"):
        load("/no/such/file.jsonl")
