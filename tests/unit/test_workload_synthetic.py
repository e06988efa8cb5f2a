import pytest

from sglang_continuum.workload import PRESETS, SyntheticSpec, describe, generate

TARGETS = {  # the paper's table: turns, tool ms, tokens per program (mean, std)
    "swebench": ((10.9, 2.1), (925, 3550), (70_126, 19_732)),
    "bfcl": ((6.3, 2.3), (1923, 2133), (93_256, 68_687)),
}


def test_reproducible_and_seed_dependent():
    assert generate("swebench", 20, 3) == generate("swebench", 20, 3)
    assert generate("swebench", 20, 3) != generate("swebench", 20, 4)
    # program i does not depend on how many are generated
    assert generate("bfcl", 5, 1)[:3] == generate("bfcl", 3, 1)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_matches_paper_stats(name):
    (tm, ts), (gm, gs), (km, ks) = TARGETS[name]
    d = describe(generate(name, 4000, 0))
    assert abs(d["turns_mean"] - tm) < 0.15 and abs(d["turns_std"] - ts) < 0.2
    assert abs(d["tokens_mean"] / km - 1) < 0.05 and abs(d["tokens_std"] / ks - 1) < 0.2
    assert abs(d["tool_ms_mean"] / gm - 1) < 0.15
    assert 0.5 < d["tool_ms_std"] / gs < 1.5  # heavy tail: the sample std converges slowly
    assert d["tool_ms_p50"] < 0.75 * gm        # lognormal: most calls are short


def test_prompts_grow_and_outputs_fit():
    for p in generate("swebench", 200, 1):
        for i, (a, b) in enumerate(zip(p.turns, p.turns[1:])):
            assert b.prompt > a.prompt
            assert p.tool_result_tokens(i) >= 0 and a.prompt + a.output <= b.prompt
            assert a.tools and a.gap_s >= 0
        assert p.turns[-1].gap_s == 0 and p.turns[-1].tools == ()


def test_spec_validation_and_unknown_name():
    with pytest.raises(ValueError, match="turns_mean"):
        SyntheticSpec(0, 1, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="swebench"):
        generate("nope", 1, 0)
    assert set(PRESETS) == {"swebench", "bfcl"}
