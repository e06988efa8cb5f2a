"""core/inferred.py: what a finished turn of an inferred program may lock."""

from __future__ import annotations

import pytest

from sglang_continuum.core import InferredPrograms, PolicyConfig


def test_a_tool_call_locks_and_a_later_answer_ends_the_program():
    p = InferredPrograms()
    assert p.finished("a", proven=False, tool="bash") == (True, False)
    assert p.finished("a", proven=True, tool="grep") == (True, False)
    assert p.finished("a", proven=True, tool=None) == (False, True)
    assert len(p) == 0  # ended: forgotten


def test_without_tool_calls_only_a_continued_program_locks():
    p = InferredPrograms()
    assert p.finished("b", proven=False, tool=None) == (False, False)  # plain or first turn
    assert p.finished("b", proven=True, tool=None) == (True, False)  # continued: an agent
    assert len(p) == 0


def test_tool_callers_are_bounded_least_recent_first():
    p = InferredPrograms(max_programs=2)
    for key in ("x", "y", "z"):
        p.finished(key, proven=False, tool="bash")
    assert len(p) == 2
    # "x" was dropped: its answer is no longer known to follow tool calls.
    assert p.finished("x", proven=True, tool=None) == (True, False)
    assert p.finished("z", proven=True, tool=None) == (False, True)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_bad_size_names_the_field(bad):
    with pytest.raises(ValueError, match="max_programs"):
        InferredPrograms(bad)


def test_open_ended_programs_leave_the_prior_sooner():
    from sglang_continuum.core import ContinuumPolicy, PrefillModel

    # A 5 s rebuild: worth a lock under either rule.
    # Memory priced (uncontended: price 1), as the rule was before 2026-12-03.
    p = ContinuumPolicy(PolicyConfig(prefill_profile=PrefillModel(5.0, 0.0, 0.0),
                                     contention_saturation=0.05), capacity_tokens=100_000)
    assert (PolicyConfig().cold_start_samples, PolicyConfig().open_cold_start_samples) \
        == (100, 20)
    t = 0.0
    for _ in range(30):  # 30 durations of 0.1 s: still cold for K = 100, warm for 20
        p.on_arrival("k", t)
        t += 0.5
        p.on_finish("k", t, 1000, None, False)
        t += 0.1
    p.on_arrival("k", t)
    explicit = p.on_finish("k", t + 0.5, 1000, None, False)
    assert explicit.reason == "cold_start" and explicit.ttl_s > 1.0  # Exp(1 s) prior
    p.on_arrival("k", t + 0.6)
    inferred = p.on_finish("k", t + 1.0, 1000, None, False, open_ended=True)
    assert inferred.reason == "pressure" and 0 < inferred.ttl_s <= 0.1 + 1e-9
