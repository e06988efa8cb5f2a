"""``python -m sglang_continuum.fuzz --cases N [--seed S] [--url URL] [--report F]``."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

from sglang_continuum.fuzz import campaign, cases, report, server
from sglang_continuum.fuzz.send import FAILURES


def parse(argv):
    ap = argparse.ArgumentParser(prog="python -m sglang_continuum.fuzz", description=__doc__)
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--url", help="a running server (default: start one with the overlay)")
    ap.add_argument("--report", type=Path, help="write the JSON summary here")
    ap.add_argument("--categories", help="comma-separated subset of: "
                    + ",".join(cases.CATEGORIES))
    ap.add_argument("--exclude", default="", help="comma-separated categories to leave out")
    ap.add_argument("--vocab", type=int, default=2048, help="vocabulary size of the model")
    ap.add_argument("--batch", type=int, default=campaign.Options.batch)
    ap.add_argument("--concurrency", type=int, default=campaign.Options.concurrency)
    ap.add_argument("--agents", type=int, default=campaign.Options.agent_threads,
                    help="threads running agent programs beside the cases (0: none)")
    ap.add_argument("--log-dir", type=Path, default=Path("/tmp/sglang-continuum-fuzz"))
    ap.add_argument("--only", help="replay a subset of the drawn cases: indices and ranges, "
                    "e.g. 17,160:200 (same --cases and --seed as the run that found them)")
    ap.add_argument("--list", action="store_true", help="print cases per category and exit")
    return ap.parse_args(argv)


def _portable(argv: list[str]) -> list[str]:
    """The command line as recorded in a report: without this machine's --log-dir."""
    out, skip = [], False
    for arg in argv:
        if skip or arg.startswith("--log-dir="):
            skip = False
            continue
        skip = arg == "--log-dir"
        if not skip:
            out.append(arg)
    return out


def _indices(spec: str, n: int) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        lo, sep, hi = part.partition(":")
        out += list(range(int(lo), min(int(hi), n))) if sep else [int(lo)]
    return out


def main(argv=None) -> int:
    a = parse(argv)
    chosen = a.categories.split(",") if a.categories else list(cases.CATEGORIES)
    chosen = [c for c in chosen if c not in set(filter(None, a.exclude.split(",")))]
    if a.list:
        for cat, n in cases.split(a.cases, chosen).items():
            print(f"{cat:16} {n}")
        return 0
    from sglang_continuum.launcher.server import launch

    ctx = nullcontext(None) if a.url else launch(
        server.SERVER_ARGS, a.log_dir, overlay=True, name="fuzz", env=server.SERVER_ENV)
    with ctx as srv:
        url = a.url or srv.url
        limits = server.limits_of(url, a.vocab)
        drawn = cases.draw_cases(a.cases, a.seed, limits, chosen)
        if a.only:
            drawn = [drawn[i] for i in _indices(a.only, len(drawn))]
        print(f"{len(drawn)} cases, seed {a.seed}, {limits}: "
              + ", ".join(f"{k} {v}" for k, v in Counter(c.category for c in drawn).items()))
        opts = campaign.Options(concurrency=a.concurrency, batch=a.batch,
                                agent_threads=a.agents, seed=a.seed)
        res = campaign.run(url, drawn, opts, alive=srv.alive if srv else (lambda: True))
        log = str(srv.log_path) if srv else None
    print(report.markdown(res))
    for o in res.outcomes:
        if o.verdict in FAILURES:
            print(f"FAIL case {o.index} [{o.category} {o.route}] {o.verdict} {o.status}: "
                  f"{o.detail[:200]}")
    for p in res.problems:
        print("PROBLEM:", p)
    agents_ok = sum(not x.errors for x in res.agents)
    print(f"agent programs: {agents_ok}/{len(res.agents)} finished; final state: {res.final}")
    print(f"{'PASS' if res.passed else 'FAIL'} in {res.seconds:.0f} s"
          + (f" (server log: {log})" if log else ""))
    if a.report:
        meta = {"command": "python -m sglang_continuum.fuzz " + " ".join(
                    _portable(sys.argv[1:] if argv is None else argv)),
                "date": datetime.datetime.now().isoformat(timespec="seconds"),
                "load_average": os.getloadavg(), "seed": a.seed, "cases": len(drawn),
                "limits": limits.__dict__, "categories": chosen,
                "server_args": None if a.url else server.SERVER_ARGS,
                "server_env": None if a.url else server.SERVER_ENV}
        report.write(a.report, res, meta)
    return 0 if res.passed else 1


if __name__ == "__main__":
    sys.exit(main())
