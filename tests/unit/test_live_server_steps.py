"""experiments/live/server_steps.py: what a server's log says it did during a run."""

from __future__ import annotations

import pytest

from tests.unit.live_modules import live_modules

# Lines as SGLang 0.5.23 prints them (a run's server log, shortened), with a line of
# another kind between them.
LOG = """\
[2026-12-07 08:31:16] Prefill batch, #new-seq: 1, #new-token: 18, #cached-token: 0, token usage: 0.00, #running-req: 0, #queue-req: 0, #pending-token: 0, cpu graph: False, input throughput (token/s): 16.42
[2026-12-07 08:31:21] Prefill batch, #new-seq: 2, #new-token: 1311, #cached-token: 400, token usage: 0.88, #running-req: 0, #queue-req: 4, #pending-token: 0, cpu graph: False, input throughput (token/s): 263.79
[2026-12-07 08:31:22] INFO:     127.0.0.1:40000 - "POST /generate HTTP/1.1" 200 OK
[2026-12-07 08:31:27] Decode batch, #running-req: 4, #token: 5492, token usage: 0.92, cpu graph: False, gen throughput (token/s): 10.00, #queue-req: 4
[2026-12-07 08:31:35] Decode batch, #running-req: 1, #token: 1371, token usage: 0.23, cpu graph: False, gen throughput (token/s): 18.00, #queue-req: 0
"""


@pytest.fixture(scope="module")
def steps():
    with live_modules("server_steps") as server_steps:
        yield server_steps


def test_counts_prefill_and_decode_lines(steps):
    s = steps.step_stats(LOG)
    assert (s["prefill_batches"], s["prefill_seqs"]) == (2, 3)
    assert (s["prefill_new_tokens"], s["prefill_cached_tokens"]) == (1329, 400)
    assert s["decode_lines"] == 2
    assert s["decode_running_mean"] == pytest.approx(2.5)
    assert s["decode_tok_s_mean"] == pytest.approx(14.0)
    assert s["decode_tok_s_per_req"] == pytest.approx((10 / 4 + 18 / 1) / 2)


def test_a_log_without_steps_has_no_means(steps):
    s = steps.step_stats("server started\n")
    assert s["prefill_batches"] == s["decode_lines"] == 0
    assert s["decode_running_mean"] is None and s["decode_tok_s_per_req"] is None


def test_table_per_arm_takes_the_median_and_skips_runs_without_stats(steps):
    one = steps.step_stats(LOG)
    two = dict(one, prefill_batches=4)
    runs = [{"live": {"arm": "b", "server_steps": one}},
            {"live": {"arm": "b", "server_steps": two}},
            {"live": {"arm": "a", "server_steps": one}},
            {"live": {"arm": "c"}}]  # recorded before run.py kept the stats
    text = "\n".join(steps.lines(runs))
    rows = [line for line in text.splitlines() if line.startswith("| a ") or line.startswith("| b ")]
    assert rows[0].startswith("| a | 1 | 2 | 1,329 | 400 | - | - | - | 2 | 2.50 | 14.0 |")
    assert rows[1].startswith("| b | 2 | 3 | ")  # median of 2 and 4 batches
    assert "| c " not in text
    assert steps.lines([{"live": {"arm": "c"}}]) == []


def test_host_tier_reloads_are_read_from_the_testbed_links_lines(steps):
    from sglang_continuum.launcher.testbed_link import RELOAD_LINE

    log = LOG + "".join(f"[2026-12-07 08:31:3{i}] {RELOAD_LINE % (n, took)}\n"
                        for i, (n, took) in enumerate([(1200, 0.0651), (800, 0.043)]))
    s = steps.step_stats(log)
    assert (s["reloads"], s["reload_tokens"]) == (2, 2000)
    assert s["reload_s"] == pytest.approx(0.1081)
    assert steps.step_stats(LOG)["reloads"] == 0
    row = next(line for line in steps.lines([{"live": {"arm": "h", "server_steps": s}}])
               if line.startswith("| h "))
    assert row.startswith("| h | 1 | 2 | 1,329 | 400 | 2 | 2,000 | 0.1 | 2 |")
