"""The A/B matrix: arms (server configurations), workloads and load levels.

Every arm runs on a fresh server with the same KV pool (``--max-total-tokens``); the
overlay arms share every overlay flag except the one the arm is about.
"""

from __future__ import annotations

from dataclasses import dataclass

from sglang_continuum.workload import Scaling


@dataclass(frozen=True)
class Arm:
    name: str
    overlay: bool
    flags: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class Workload:
    name: str
    source: str          # "trace" or a synthetic preset
    scaling: Scaling


@dataclass(frozen=True)
class Load:
    name: str
    concurrency: int     # programs running at a time (closed loop)
    programs: int


BASELINE, METHOD = "stock-lru", "continuum"

ARMS = (
    Arm(BASELINE, False, ("--enable-metrics",),
        "stock SGLang 0.5.23 (--continuum-disable): LRU radix cache, request FCFS"),
    Arm("fixed-2s", True, ("--continuum-policy", "fixed", "--continuum-fixed-ttl", "2"),
        "authors' prototype: fixed 2 s TTL on every non-last turn, program FCFS"),
    Arm(METHOD, True, (), "full method: cost-model TTL + program FCFS (defaults)"),
    Arm("fcfs-only", True, ("--continuum-policy", "off"), "program FCFS, no TTL locks"),
    Arm("ttl-only", True, ("--continuum-no-program-fcfs",),
        "cost-model TTL, SGLang's own queue order"),
)

# Scaled so that at the default pool (6000 tokens, run_matrix.py --pool) the light level's
# contexts fit (2 x ~1.7k), the medium level's nearly fill it (3 x ~1.7k) and the
# contended level's exceed it about twice (8 x ~1.7k).
WORKLOADS = (
    Workload("trace", "trace", Scaling(token_scale=1 / 16, max_turns=10, output_cap=32,
                                       max_gap_s=5.0)),
    Workload("swebench", "swebench", Scaling(token_scale=1 / 4, output_cap=16, max_gap_s=5.0)),
)

LOADS = (
    Load("light", 2, 4),
    Load("medium", 3, 6),
    Load("contended", 8, 8),
)

# Overlay flags common to every overlay arm (small pool: one program may lock half).
OVERLAY_COMMON = ("--continuum-per-program-cap", "0.5", "--continuum-status-interval", "5")

QUICK = {  # a smoke test of the whole pipeline (minutes, not a result)
    "workloads": (Workload("trace", "trace", Scaling(token_scale=1 / 32, max_turns=3,
                                                     output_cap=8, max_gap_s=1.0)),),
    "loads": (Load("light", 1, 1), Load("contended", 2, 2)),
}
