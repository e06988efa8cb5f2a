"""Program inference from prompts (core/inference.py IdentityTable): which finished turn a prompt
continues, with chat re-rendering, siblings that share a prefix, tenants and bounds."""

from __future__ import annotations

import random
from array import array

import pytest

from sglang_continuum.core import IdentityConfig, IdentityTable


def ids(n, seed):
    rng = random.Random(seed)
    return [rng.randrange(10, 2000) for _ in range(n)]


SYSTEM = ids(600, 1)  # a long system prompt every program shares
USER = ids(40, 2)  # and the same first user message


def test_exact_extension_continues_the_program():
    t = IdentityTable()
    prompt, out = SYSTEM + USER, ids(30, 3)
    t.record(("", "a"), prompt, out, now=0.0)
    assert t.continues("", prompt + out + ids(50, 4), now=1.0) == ("", "a")
    assert t.matched == 1


def test_chat_rerender_differing_near_the_end_of_the_output_still_matches():
    t = IdentityTable()
    prompt, out = SYSTEM + USER, ids(40, 5)
    t.record(("", "a"), prompt, out, now=0.0)
    # The template re-renders the assistant message: its last tokens (and the end-of-turn
    # token) differ from the generated ids.
    rerendered = prompt + out[:3] + ids(45, 6) + ids(30, 7)
    assert t.continues("", rerendered, now=1.0) == ("", "a")


def test_siblings_sharing_system_prompt_and_first_message_stay_apart():
    t = IdentityTable()
    prompt = SYSTEM + USER
    out_a, out_b = [7] + ids(30, 10), [8] + ids(30, 11)
    t.record(("", "a"), prompt, out_a, now=0.0)
    t.record(("", "b"), prompt, out_b, now=0.5)
    assert t.continues("", prompt + out_a + ids(20, 12), now=1.0) == ("", "a")
    assert t.continues("", prompt + out_b + ids(20, 13), now=1.0) == ("", "b")


def test_sibling_sharing_the_start_of_the_output_takes_the_longer_agreement():
    t = IdentityTable()
    prompt = SYSTEM + USER
    common = ids(5, 20)
    out_a, out_b = common + ids(60, 21), common + ids(60, 22)
    t.record(("", "a"), prompt, out_a, now=0.0)
    t.record(("", "b"), prompt, out_b, now=0.5)  # more recent, but a shorter agreement
    assert t.continues("", prompt + out_a + ids(20, 23), now=1.0) == ("", "a")


def test_a_prompt_that_only_grazes_a_long_output_is_not_its_continuation():
    """With the true parent gone, a sibling agreeing on 5 of 200 output tokens of a
    100-token prompt covers (100 + 5) / 300 of the context: below 90%, no match."""
    t = IdentityTable()
    prompt = ids(100, 30)
    common = ids(5, 31)
    t.record(("", "a"), prompt, common + ids(195, 32), now=0.0)
    assert t.continues("", prompt + common + ids(195, 33) + ids(10, 34), now=1.0) is None


def test_a_prompt_equal_to_a_finished_prompt_is_a_new_program_not_a_continuation():
    t = IdentityTable()
    prompt = SYSTEM + USER
    t.record(("", "a"), prompt, ids(20, 40), now=0.0)
    assert t.continues("", prompt, now=1.0) is None  # the same first turn, sent again


def test_no_output_token_agreeing_matches_only_an_unambiguous_turn():
    """A re-rendered reply may differ from the first token on (text that does not
    re-tokenize to the generated ids; a template that drops reasoning). That matches
    the one turn whose prompt it extends, but never picks between siblings."""
    t = IdentityTable()
    prompt = SYSTEM + USER
    follow = prompt + [3] + ids(20, 41)  # agrees with no output below
    t.record(("", "a"), prompt, [7] + ids(20, 40), now=0.0)
    assert t.continues("", follow, now=1.0) == ("", "a")
    t.record(("", "a"), prompt, [7] + ids(20, 40), now=2.0)
    t.record(("", "b"), prompt, [8] + ids(20, 42), now=2.5)
    assert t.continues("", follow, now=3.0) is None  # a or b? neither
    assert len(t) == 2


def test_token_arrays_as_sglang_holds_them_match_lists():
    from array import array

    t = IdentityTable()
    prompt, out = SYSTEM + USER, ids(30, 43)
    t.record(("", "a"), array("q", prompt), array("q", out), now=0.0)
    assert t.continues("", array("q", prompt + out + ids(5, 44)), now=1.0) == ("", "a")


def test_different_user_message_at_the_end_of_the_prompt_is_caught():
    t = IdentityTable()
    out = ids(20, 50)
    t.record(("", "a"), SYSTEM + USER, out, now=0.0)
    other_user = USER[:-3] + [5, 6, 7]
    assert t.continues("", SYSTEM + other_user + out + ids(9, 51), now=1.0) is None


def test_identical_outputs_may_share_and_the_most_recent_wins():
    t = IdentityTable()
    prompt, out = SYSTEM + USER, ids(20, 60)
    t.record(("", "a"), prompt, out, now=0.0)
    t.record(("", "b"), prompt, out, now=0.5)
    follow = prompt + out + ids(10, 61)
    assert t.continues("", follow, now=1.0) == ("", "b")
    assert t.continues("", follow, now=1.0) == ("", "a")  # b's turn was consumed


def test_a_turn_is_continued_once_and_a_new_record_replaces_the_old():
    t = IdentityTable()
    prompt, out = SYSTEM + USER, ids(20, 70)
    nxt = prompt + out + ids(30, 71)
    t.record(("", "a"), prompt, out, now=0.0)
    assert t.continues("", nxt, now=1.0) == ("", "a")
    assert t.continues("", nxt, now=1.0) is None
    out2 = ids(20, 72)
    t.record(("", "a"), nxt, out2, now=2.0)
    t.record(("", "a"), nxt, out2, now=2.5)
    assert len(t) == 1
    assert t.continues("", nxt + out2 + ids(5, 73), now=3.0) == ("", "a")


def test_tenants_never_match_each_other():
    t = IdentityTable()
    prompt, out = SYSTEM + USER, ids(20, 80)
    t.record(("tenant-a", "a"), prompt, out, now=0.0)
    assert t.continues("tenant-b", prompt + out + ids(5, 81), now=1.0) is None
    assert t.continues("tenant-a", prompt + out + ids(5, 81), now=1.0) == ("tenant-a", "a")


def test_turns_expire_by_the_injected_clock_and_the_table_is_bounded():
    t = IdentityTable(IdentityConfig(max_age_s=10.0, max_entries=3))
    turns = [(ids(100, 90 + i), ids(10, 95 + i)) for i in range(4)]
    for i, (p, o) in enumerate(turns):
        t.record(("", f"p{i}"), p, o, now=float(i))
    assert len(t) == 3  # p0 went to make room
    p, o = turns[0]
    assert t.continues("", p + o + [1, 2], now=4.0) is None
    p, o = turns[1]
    assert t.continues("", p + o + [1, 2], now=11.5) is None  # finished at 1, aged out
    p, o = turns[3]
    assert t.continues("", p + o + [1, 2], now=11.5) == ("", "p3")


def test_short_prompts_and_empty_outputs_are_not_recorded():
    t = IdentityTable()
    t.record(("", "a"), ids(20, 100), ids(5, 101), now=0.0)
    t.record(("", "b"), ids(200, 102), [], now=0.0)
    assert len(t) == 0
    assert t.continues("", ids(10, 103), now=1.0) is None


def test_start_names_new_programs_and_counts_them():
    t = IdentityTable()
    assert t.start("salt", "rid-1") == ("salt", "~rid-1")
    assert t.started == 1


@pytest.mark.parametrize("field,value", [("head_tokens", 0), ("samples", -1),
                                         ("min_fraction", 1.5), ("max_age_s", 0),
                                         ("max_entries", True)])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"IdentityConfig.{field}"):
        IdentityConfig(**{field: value})


def test_the_cost_benchmark_runs():
    from benchmarks.identity_bench import measure

    row = measure(prompt_tokens=600, programs=4, reps=5)
    assert row["match_us"] is not None and row["miss_us"] > 0 and row["record_us"] > 0


def test_no_spread_samples_is_a_valid_config():
    t = IdentityTable(IdentityConfig(samples=0))
    prompt, out = SYSTEM + USER, ids(10, 110)
    t.record(("", "a"), prompt, out, now=0.0)
    assert t.continues("", prompt + out + [1], now=1.0) == ("", "a")


def test_prompt_only_mode_follows_prompts_that_extend_the_last_recorded_prompt():
    """The DP router sees requests, not outputs: a prompt continues the program whose
    last recorded prompt it extends; equal recorded prompts (siblings) are ambiguous."""
    table = IdentityTable(IdentityConfig(prompt_only=True))
    system = list(range(100, 160))
    a1 = system + [1, 2, 3]
    table.record(("", "a"), a1, (), now=0.0)
    a2 = a1 + [7, 8, 9, 10]
    assert table.continues("", a2, now=1.0) == ("", "a")
    table.record(("", "a"), a2, (), now=1.0)
    assert table.continues("", system + [5, 5, 5, 5], now=2.0) is None  # does not extend
    table.record(("", "b"), a1, (), now=2.0)
    table.record(("", "c"), a1, (), now=2.0)
    assert table.continues("", a1 + [4], now=3.0) is None  # b and c: ambiguous
    with pytest.raises(ValueError, match="prompt_only"):
        IdentityConfig(prompt_only=1)


@pytest.mark.parametrize("kind", [list, tuple, lambda xs: range(xs[0], xs[0] + len(xs)),
                                  lambda xs: array("l", xs), lambda xs: array("q", xs)])
def test_any_sequence_of_ids_is_read(kind):
    """Prompts come as SGLang's array('q'), lists, the simulator's synthetic ids, or any
    other sequence of ints: each is compared as array('q')."""
    t = IdentityTable()
    prompt, output = list(range(1000, 1100)), list(range(1100, 1110))
    t.record(("", "p"), kind(prompt), kind(output), now=0.0)
    assert t.continues("", kind(list(range(1000, 1120))), now=1.0) == ("", "p")


def test_prompts_differing_where_no_sample_falls_keep_their_programs():
    """Two programs whose prompts differ in one token between the sampled positions,
    with the same first reply: each next turn finds its own program, never the other's
    (the whole prefix is verified, not samples of it)."""
    base = ids(5000, 11)
    pa, pb = list(base), list(base)
    pb[2500 + 7] = 1
    out = ids(40, 12)
    for position in (2500 + 7, 33, 4990):  # between samples, just after the head, near the end
        pa, pb = list(base), list(base)
        pb[position] = 1
        t = IdentityTable()
        t.record(("", "~B"), pb, out, now=1.0)
        t.record(("", "~A"), pa, out, now=2.0)  # A finished last
        assert t.continues("", pb + out + ids(200, 13), now=3.0) == ("", "~B")
        assert t.continues("", pa + out + ids(200, 14), now=4.0) == ("", "~A")


def test_a_lone_candidate_whose_prompt_differs_is_not_continued():
    pa = ids(5000, 15)
    pb = list(pa)
    pb[2507] = 1
    t = IdentityTable()
    t.record(("", "~A"), pa, ids(40, 16), now=1.0)
    assert t.continues("", pb + [7] * 300, now=2.0) is None
