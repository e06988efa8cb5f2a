"""Mixed traffic in the simulator: agent programs plus plain single-turn requests.

Plain requests (300 prompt tokens, 16 output, Poisson) carry ~30% of the tokens. In the
core a plain request is a one-turn program sent without a program id: it never locks,
the queue order and the pressure rule see no program (as in the server), and it feeds
no tool duration. Prints
the agents' mean JCT and the plain requests' TTFT (mean, p99) per policy.

    .venv/bin/python experiments/sim/run_mixed.py --workload bfcl --rate 0.3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sglang_continuum.sim import Simulator, load_profile, poisson_arrivals
from sglang_continuum.sim.metrics import percentile
from sglang_continuum.sim.workload import ProgramSpec, Turn, load_workload

PLAIN = ProgramSpec  # a one-turn program: a request without a program id to the core


def mixed(workload: str, programs: int, rate: float, share: float, seed: int):
    agents = load_workload(workload, programs, seed)
    agent_arrivals = poisson_arrivals(len(agents), rate, seed)
    agent_tokens = sum(t.prompt + t.output for p in agents for t in p.turns)
    n_plain = max(1, round(share / (1 - share) * agent_tokens / 316))
    window = agent_arrivals[-1]
    plain = [PLAIN(f"plain-{i}", (Turn(300, 16),)) for i in range(n_plain)]
    plain_arrivals = poisson_arrivals(n_plain, n_plain / window, seed + 1)
    pairs = sorted(zip(agents + plain, agent_arrivals + plain_arrivals), key=lambda x: x[1])
    return [p for p, _ in pairs], [a for _, a in pairs], n_plain / window


def run(policy: str, progs, arrivals, profile: str) -> dict:
    # Plain requests carry no program id: the core sees none (as in the server).
    plain = frozenset(p.program_id for p in progs if p.program_id.startswith("plain-"))
    sim = Simulator(progs, arrivals, load_profile(profile), policy, plain=plain,
                    infer_programs=False)
    sim.run({})
    ttft = [t.ttft for t in sim.turn_records if t.program_id.startswith("plain-")]
    jct = [p.jct for p in sim.program_records
           if not p.program_id.startswith("plain-") and not p.aborted]
    return dict(policy=policy, agents_jct_mean=sum(jct) / len(jct),
                plain_ttft_mean=sum(ttft) / len(ttft), plain_ttft_p99=percentile(ttft, 99))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="bfcl")
    ap.add_argument("--profile", default="llama3.1-8b-h100")
    ap.add_argument("--programs", type=int, default=150)
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--share", type=float, default=0.3, help="plain requests' token share")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--policies", default="lru,old_default,continuum,fixed_60")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    progs, arrivals, plain_rate = mixed(args.workload, args.programs, args.rate, args.share,
                                        args.seed)
    rows = [run(p, progs, arrivals, args.profile) for p in args.policies.split(",")]
    print(f"{args.workload} {args.profile} {args.rate}/s agents + plain {plain_rate:.2f}/s "
          f"({args.share:.0%} of tokens)")
    print("| policy | agents mean JCT s | plain TTFT mean s | plain TTFT p99 s |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['policy']} | {r['agents_jct_mean']:.1f} | {r['plain_ttft_mean']:.2f} | "
              f"{r['plain_ttft_p99']:.2f} |")
    if args.out:
        args.out.write_text(json.dumps(dict(args=vars(args) | {"out": str(args.out.name)},
                                            plain_rate=plain_rate, rows=rows), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
