from sglang_continuum.replay.prompts import Context, shared_prefix
from sglang_continuum.workload import Program, Turn


def test_next_prompt_extends_exactly():
    ctx = Context("p1", seed=3)
    first = ctx.first(100)
    assert len(first) == 100 and all(10 <= i < 2000 for i in first)
    out = [7, 8, 9]
    second = ctx.next(out, 150)
    assert second[:100] == first and second[100:103] == out and len(second) == 150
    third = ctx.next([5], 160)
    assert third[:150] == second and third[150] == 5 and len(third) == 160


def test_shrinking_context_stays_an_extension():
    ctx = Context("p1")
    a = ctx.first(50)
    b = ctx.next([1, 2], 40)  # planned context shrinks: no tool result, still a prefix
    assert b == a + [1, 2]


def test_seeded_per_program_and_seed():
    assert Context("a", 1).first(64) == Context("a", 1).first(64)
    assert Context("a", 1).first(64) != Context("b", 1).first(64)
    assert Context("a", 1).first(64) != Context("a", 2).first(64)


def test_shared_prefix():
    pre = shared_prefix(20, seed=1)
    a, b = Context("a", 1, pre).first(30), Context("b", 1, pre).first(30)
    assert a[:20] == b[:20] == pre and a[20:] != b[20:]
    assert Context("c", 1, pre).first(10) == pre[:10]


def test_tool_result_tokens_match_the_replay():
    p = Program("x", (Turn(100, 10, ("t",), 0.1), Turn(150, 5, (), 0.0)))
    ctx = Context("x")
    ctx.first(100)
    nxt = ctx.next(list(range(10, 20)), p.turns[1].prompt)
    assert len(nxt) - 100 - 10 == p.tool_result_tokens(0) == 40
