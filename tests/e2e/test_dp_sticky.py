"""End to end: program-sticky data parallelism on a real ``--dp-size 2`` CPU server.

SGLang's DP controller spreads requests round robin, so a program's consecutive turns
land on ranks that do not hold its KV. With the overlay, every turn of a program goes
to its home rank and new programs to the least loaded rank. One server, two arms
interleaved one program at a time: programs with a program id (routed by the overlay)
and the same programs with no id (SGLang's round robin: the overlay leaves stock
requests alone with ``--continuum-infer-programs off``, which this server runs with).
"""

from __future__ import annotations

import pytest

from sglang_continuum.launcher.client import generate, random_ids

pytestmark = pytest.mark.server

TURNS, GROWTH, SYSTEM = 3, 160, 240  # each turn adds as much as the first prompt holds


@pytest.fixture(scope="module")
def server():
    from sglang_continuum.launcher.server import launch

    from .conftest import BASE_ARGS, LOG_DIR

    # One core per rank: without the binding SGLang refuses more ranks than NUMA nodes.
    with launch([*BASE_ARGS, "--dp-size", "2", "--continuum-infer-programs", "off"], LOG_DIR, name="dp-sticky",
                env={"SGLANG_CPU_OMP_THREADS_BIND": "0|1"}, timeout=600) as s:  # bounds a failure
        yield s


def _program(url: str, seed: int, program: str | None) -> list[tuple[int, int]]:
    """(prompt, cached) tokens of each turn; turn i+1's prompt is turn i's prompt, its
    output and a tool result."""
    prompt, turns = random_ids(SYSTEM, seed), []
    for i in range(TURNS):
        out = generate(url, prompt, 4, program=program)
        turns.append((len(prompt), out["meta_info"]["cached_tokens"]))
        prompt = prompt + out["output_ids"] + random_ids(GROWTH, seed * 100 + i)
    return turns


def _hit_ratio(programs) -> float:
    """Cached tokens of turns 2+ over the previous turn's prompt: 1.0 when every turn
    finds its whole past context."""
    cached = sum(c for turns in programs for (_, c) in turns[1:])
    possible = sum(p for turns in programs for (p, _) in turns[:-1])
    return cached / possible


def _routed(server) -> dict[tuple[str, str], float]:
    out = {}
    for key, value in server.metrics().items():
        if key.startswith("sglang_continuum_dp_routed_total{"):
            labels = dict(kv.split("=") for kv in key[key.index("{") + 1:-1].split(","))
            out[(labels["rank"].strip('"'), labels["reason"].strip('"'))] = value
    return out


def test_program_turns_stay_on_their_rank_and_new_programs_are_balanced(server):
    before = _routed(server)
    assert set(before) == {(r, why) for r in "01"
                           for why in ("home", "new", "moved_failed", "moved_saturated")}
    sticky, stock = [], []
    for k in range(4):  # interleaved arms, one program at a time
        sticky.append(_program(server.url, 10 + k, program=f"dp-{k}"))
        stock.append(_program(server.url, 20 + k, program=None))
    after = _routed(server)
    delta = {k: after[k] - before[k] for k in after}
    hits = _hit_ratio(sticky), _hit_ratio(stock)
    print(f"hit ratio sticky {hits[0]:.3f}, round robin {hits[1]:.3f}; routed {delta}")
    assert hits[0] >= 0.95, sticky
    assert hits[1] <= 0.7, stock  # every other turn on the rank without its KV
    new = [delta[(r, "new")] for r in "01"]
    assert sum(new) == 4 and min(new) >= 1, delta  # both ranks got new programs
    assert delta[("0", "home")] + delta[("1", "home")] == 4 * (TURNS - 1), delta
    assert all(delta[(r, why)] == 0 for r in "01" for why in ("moved_failed",
                                                             "moved_saturated")), delta
