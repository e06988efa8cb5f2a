"""The replay against a real overlay server: what it reports is what the server saw."""


import pytest

from sglang_continuum.replay import Concurrency, replay
from sglang_continuum.launcher.server import launch
from sglang_continuum.workload import Program, Turn

pytestmark = pytest.mark.server


def programs():
    def p(pid, base):
        return Program(pid, (Turn(base, 8, ("bash",), 0.3), Turn(base + 60, 8, ("cat",), 0.2),
                             Turn(base + 130, 6, (), 0.0)))
    return [p("e2e-a", 480), p("e2e-b", 520), p("e2e-c", 500)]


def test_replay_numbers_match_the_server(tmp_path):
    args = ["--max-total-tokens", "8192", "--random-seed", "0",
            "--continuum-per-program-cap", "0.5",
            # fixed TTLs: the cost model rightly keeps nothing for 600-token contexts
            "--continuum-policy", "fixed", "--continuum-fixed-ttl", "2"]
    with launch(args, tmp_path / "logs", overlay=True, name="replay-e2e") as srv:
        before = srv.metric("sglang:prompt_tokens_total")
        out = replay(srv.url, programs(), Concurrency(3), seed=11, progress=False,
                     label="e2e")
        after = srv.metric("sglang:prompt_tokens_total")
        locks = srv.wait_metric("sglang_continuum_locks_set_total", lambda v: v > 0)
    s = out["summary"]
    assert s["completed"] == 3 and s["errors"] == 0 and not out["interrupted"]
    turns = [t for p in out["programs"] for t in p["turns"]]
    planned = [t for p in programs() for t in p.turns]
    assert sorted(t["sent_tokens"] for t in turns) == sorted(t.prompt for t in planned)
    assert all(t["sent_tokens"] == t["prompt_tokens"] for t in turns)
    assert s["prompt_tokens"] == sum(t.prompt for t in planned) == after - before
    assert s["completion_tokens"] == sum(t.output for t in planned)
    for p in out["programs"]:
        later = p["turns"][1:]
        # a later turn reuses at least the previous prompt and its output
        assert all(t["cached_tokens"] >= p["turns"][i]["sent_tokens"]
                   for i, t in enumerate(later))
        assert p["jct_s"] >= 0.5  # the two tool gaps were slept
    assert all(t["queue_source"] == "server" for t in turns)
    assert locks > 0  # program ids reached the overlay
