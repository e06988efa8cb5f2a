"""Cost per request of program inference in the scheduler (core/inference.py).

For each prompt length and table population, times with ``perf_counter_ns``:
- ``match``: ``continues()`` for a next turn whose program is in the table, with every
  other program sharing the same system prompt (one bucket), its turn the most recently
  finished (examined first);
- ``worst``: the same with its turn the oldest in the bucket (examined last, after
  every other one of the ``max_candidates`` most recent turns);
- ``miss``: ``continues()`` for a first turn under the same shared system prompt, then
  ``start()`` (a new program);
- ``record``: ``record()`` of a finished turn.
Token sequences are ``array('q')``, as SGLang 0.5.23's ``Req`` holds them.

    python -m benchmarks.identity_bench [--quick]
    python -m benchmarks.identity_bench --baseline OLD_IDENTITY.py  # before/after, interleaved

``--baseline`` loads another version of ``core/inference.py`` (e.g. from ``git show
REV:sglang_continuum/core/inference.py``) and measures both tables in one run, arms
interleaved, 3 rounds: min/median/max of each round's median.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import random
import statistics
import sys
import time
from array import array

from sglang_continuum.core import IdentityTable

SYSTEM_TOKENS = 2_000


def _ids(n: int, rng: random.Random) -> list[int]:
    return [rng.randrange(10, 150_000) for _ in range(n)]


def _median_us(fn, reps: int, setup=None) -> float:
    samples = []
    for _ in range(reps):
        if setup is not None:
            setup()  # untimed
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1e3


def measure(prompt_tokens: int, programs: int, reps: int, seed: int = 0,
            table_class=IdentityTable) -> dict:
    rng = random.Random(seed)
    system = _ids(min(SYSTEM_TOKENS, prompt_tokens // 2), rng)
    table = table_class()
    contexts = []
    for i in range(programs):  # every program shares the system prompt: one bucket
        prompt = system + _ids(prompt_tokens - len(system), rng)
        out = _ids(200, rng)
        table.record(("", f"p{i}"), array("q", prompt), array("q", out), now=0.0)
        contexts.append((("", f"p{i}"), array("q", prompt), array("q", out)))
    key, prompt_a, out_a = contexts[0]
    nxt = array("q", list(prompt_a) + list(out_a) + _ids(300, rng))
    fresh = array("q", system + _ids(prompt_tokens - len(system), rng))

    def newest():
        table.record(key, prompt_a, out_a, now=1.0)

    def oldest():
        for k, p, o in contexts:  # p0 first: then every other turn is newer
            table.record(k, p, o, now=1.0)

    def match():
        assert table.continues("", nxt, now=1.0) == key

    gc.disable()
    try:
        found = _median_us(match, reps, setup=newest)
        worst = _median_us(match, max(1, reps // 10), setup=oldest) if programs > 1 else found
        rec = _median_us(lambda: table.record(key, prompt_a, out_a, now=1.0), reps)
        miss = _median_us(lambda: table.continues("", fresh, now=1.0) or table.start("", "r"),
                          reps)
    finally:
        gc.enable()
    return {"prompt_tokens": prompt_tokens, "programs_in_bucket": programs,
            "match_us": round(found, 2), "worst_us": round(worst, 2),
            "miss_us": round(miss, 2), "record_us": round(rec, 2)}


COLUMNS = ("match_us", "worst_us", "miss_us", "record_us")
SIZES = [(n, p) for n in (1_000, 8_000, 40_000) for p in (1, 64)]


def _load_table(path: str):
    """IdentityTable of another version of core/inference.py (its relative imports
    resolve against this package)."""
    name = "sglang_continuum.core._identity_baseline"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.IdentityTable


def compare(baseline: str, reps: int, rounds: int = 3) -> dict:
    arms = {"baseline": _load_table(baseline), "current": IdentityTable}
    out = {arm: {size: [] for size in SIZES} for arm in arms}
    for _ in range(rounds):
        for arm, cls in arms.items():  # interleaved
            for n, p in SIZES:
                out[arm][(n, p)].append(measure(n, p, reps, table_class=cls))
    print(f"{'prompt':>7} {'bucket':>6} {'arm':>8}  "
          + "  ".join(f"{c[:-3] + ' µs min/med/max':>24}" for c in COLUMNS))
    for size in SIZES:
        for arm in arms:
            cells = []
            for c in COLUMNS:
                v = [r[c] for r in out[arm][size]]
                cells.append(f"{min(v):.2f}/{statistics.median(v):.2f}/{max(v):.2f}")
            print(f"{size[0]:>7} {size[1]:>6} {arm:>8}  " + "  ".join(f"{x:>24}" for x in cells))
    return out


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="few reps (a smoke test)")
    ap.add_argument("--baseline", metavar="IDENTITY_PY",
                    help="another core/inference.py to measure against, interleaved")
    args = ap.parse_args(argv)
    reps = 50 if args.quick else 2_000
    if args.baseline:
        compare(args.baseline, reps // 2)
        rows = []
    else:
        rows = [measure(n, p, reps) for n, p in SIZES]
        print(f"{'prompt':>7} {'bucket':>6} {'match µs':>9} {'worst µs':>9} {'miss µs':>8} "
              f"{'record µs':>10}")
        for r in rows:
            print(f"{r['prompt_tokens']:>7} {r['programs_in_bucket']:>6} {r['match_us']:>9} "
                  f"{r['worst_us']:>9} {r['miss_us']:>8} {r['record_us']:>10}")
    rng = random.Random(1)
    prompt, out = array("q", _ids(8_000, rng)), array("q", _ids(200, rng))
    yardstick = _median_us(lambda: prompt + out, reps)
    print(f"for scale, on this machine: prompt + output of an 8,000-token request (SGLang "
          f"concatenates its ids per request): {yardstick:.2f} µs")
    return rows


if __name__ == "__main__":
    main()
