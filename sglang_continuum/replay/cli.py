"""``python -m sglang_continuum.replay``: play agent programs against an SGLang server.

Examples::

    python -m sglang_continuum.replay --url http://127.0.0.1:30000 --workload trace \
        --programs 8 --token-scale 0.0625 --max-turns 20 --output-cap 32 --max-gap 5 \
        --concurrency 4 --out replay-results
    python -m sglang_continuum.replay compare replay-results/a.json replay-results/b.json \
        --out replay-results
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from sglang_continuum.workload import Scaling, describe, load

from .driver import Concurrency, Poisson
from .plain import PlainLoad
from .report import knobs_line, markdown_table, plot_jct_cdf
from .run import replay, save


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m sglang_continuum.replay",
                                 description="Replay agent programs against any SGLang server.")
    ap.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:30000")
    ap.add_argument("--workload", default="trace",
                    help="'trace' (shared trace), a trace .jsonl path, 'swebench' or 'bfcl'")
    ap.add_argument("--programs", type=int, help="first N programs (synthetic default 100)")
    ap.add_argument("--seed", type=int, default=0, help="synthetic programs, arrivals, ids")
    g = ap.add_argument_group("scaling knobs (printed with the results)")
    g.add_argument("--token-scale", type=float, default=1.0)
    g.add_argument("--time-scale", type=float, default=1.0)
    g.add_argument("--max-turns", type=int)
    g.add_argument("--output-cap", type=int)
    g.add_argument("--max-gap", type=float, dest="max_gap_s", help="cap on tool gaps (s)")
    lg = ap.add_mutually_exclusive_group(required=True)
    lg.add_argument("--rate", type=float, help="Poisson program arrivals per second")
    lg.add_argument("--concurrency", type=int, help="programs running at a time")
    ap.add_argument("--shared-prefix", type=int, default=0, metavar="TOKENS",
                    help="a prefix common to all programs (system prompt)")
    ap.add_argument("--no-tool-hints", action="store_true",
                    help="do not send the trace's tool names in custom_params.tool")
    ap.add_argument("--sessions", action="store_true",
                    help="one SGLang radix-native session per program (serve with "
                    "--enable-session-radix-cache): opened before its first turn, "
                    "top-level session_id on every call, closed after its last turn")
    ap.add_argument("--plain-agents", action="store_true",
                    help="send no program id, last_turn or tool name, as an unmodified "
                    "agent does (serve with --continuum-infer-programs on)")
    pg = ap.add_argument_group("plain traffic beside the agents (single-turn, no identity)")
    pg.add_argument("--plain-rate", type=float, help="Poisson requests per second (off by default)")
    pg.add_argument("--plain-prompt", type=int, default=300, help="prompt tokens (300)")
    pg.add_argument("--plain-output", type=int, default=16, help="output tokens (16)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="per-call HTTP timeout (s)")
    ap.add_argument("--label", help="results file name (default: workload-load)")
    ap.add_argument("--out", type=Path, default=Path("replay-results"))
    ap.add_argument("--no-progress", action="store_true")
    return ap


def compare(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m sglang_continuum.replay compare")
    ap.add_argument("results", nargs="+", type=Path, help="result .json files of replays")
    ap.add_argument("--out", type=Path, default=Path("replay-results"))
    args = ap.parse_args(argv)
    runs = [json.loads(p.read_text()) for p in args.results]
    print(markdown_table([r["summary"] for r in runs]))
    path = args.out / "compare-jct-cdf.png"
    plot_jct_cdf({r["label"]: [p["jct_s"] for p in r["programs"] if p["jct_s"] is not None]
                  for r in runs}, path)
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["compare"]:
        return compare(argv[1:])
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        scaling = Scaling(args.token_scale, args.time_scale, args.max_turns, args.output_cap,
                          args.max_gap_s, args.programs)
        programs = load(args.workload, args.seed, scaling)
        ld = Poisson(args.rate, args.seed) if args.rate is not None \
            else Concurrency(args.concurrency)
        plain = None if args.plain_rate is None else PlainLoad(
            args.plain_rate, args.plain_prompt, args.plain_output, args.seed)
    except ValueError as e:
        ap.error(str(e))
    if args.sessions and args.plain_agents:
        ap.error("--sessions and --plain-agents exclude each other (a session id is an identity)")
    label = args.label or f"{Path(args.workload).stem}-{ld.describe().replace(' ', '')}"
    meta = {"workload": args.workload, "scaling": scaling.describe(),
            "workload_stats": describe(programs), "seed": args.seed,
            "command": shlex.join(["python", "-m", "sglang_continuum.replay", *argv])}
    print(knobs_line(scaling.describe()))
    print(f"workload {args.workload}: {meta['workload_stats']}")
    out = replay(args.url, programs, ld, seed=args.seed, shared_prefix_tokens=args.shared_prefix,
                 tool_hints=not args.no_tool_hints, progress=not args.no_progress,
                 timeout=args.timeout, label=label, meta=meta, sessions=args.sessions,
                 plain_agents=args.plain_agents, plain=plain)
    paths = save(out, args.out)
    print(knobs_line(scaling.describe()) + f"; load: {out['load']}")
    print(markdown_table([out["summary"]]))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 130 if out["interrupted"] else 0
