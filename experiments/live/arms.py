"""The live A/B's arms, loads and workload (experiments/live/run.py).

Stock arms are SGLang 0.5.23 run the way its authors intend each option; overlay arms
are ``python -m sglang_continuum.launch_server`` with the policy named. An arm's research
knobs are keys of a config file in ``configs/`` (``--continuum-config``), with the
testbed's prefill profile added by ``run.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sglang_continuum.workload import Scaling

CONFIGS = Path(__file__).resolve().parent / "configs"


@dataclass(frozen=True)
class Arm:
    name: str
    overlay: bool
    flags: tuple[str, ...] = ()
    sessions: bool = False      # replay opens one radix-native session per program
    plain_agents: bool = False  # replay sends no program id, last_turn or tool name
    note: str = ""
    config: str | None = None   # a file of configs/: the arm's --continuum-config keys
    pool_tokens: int | None = None  # the device pool in tokens, in place of the setup's

    def pool(self, setup_pool: int) -> int:
        """The device pool this arm's server gets: its own, else the setup's."""
        return self.pool_tokens or setup_pool

    def settings(self) -> dict:
        """The arm's config-file keys ({} for none)."""
        return json.loads((CONFIGS / self.config).read_text()) if self.config else {}


# Host pool 2x the device pool (SGLang's default ratio; a few hundred MB for this model).
HICACHE = ("--enable-hierarchical-cache", "--hicache-ratio", "2")
# A host pool no larger than the device pool: it cannot hold every context (contended:
# ~14,000 tokens against 6,000 + 6,000), so host eviction drops some.
HICACHE_SMALL = ("--enable-hierarchical-cache", "--hicache-ratio", "1")
# Half of it: the host pool holds what the device pool does not, and no more.
HICACHE_HALF = ("--enable-hierarchical-cache", "--hicache-ratio", "0.5")
# Twice the 2x pool: more than every context (contended: ~14,000 tokens against 6,000 +
# 24,000), so no arm ever loses a context to the host tier: what the cell gives with
# host memory left out of the question.
HICACHE_LARGE = ("--enable-hierarchical-cache", "--hicache-ratio", "4")

WRITE_THROUGH = ("--hicache-write-policy", "write_through")
# A batch-limited engine (the "-b2" arms): the running batch capped at 2 requests, and a
# device pool that holds every context (contended: ~14,000 tokens against 24,000), so
# nothing is evicted and what limits the cell is how many requests run at once.
BATCH_CAP = ("--max-running-requests", "2")
ROOMY_POOL = 24_000
# Host pool size (its --hicache-ratio) -> the flags and the arm name's suffix.
HOST_POOLS = {"4": (HICACHE_LARGE, "-h4"), "2": (HICACHE, ""), "1": (HICACHE_SMALL, "-h1"),
              "0.5": (HICACHE_HALF, "-h05")}


def _per_host_pool(name: str, flags: tuple[str, ...], config: str, note: str,
                   pools: tuple[str, ...] = ("2", "1", "0.5")) -> tuple[Arm, ...]:
    """One overlay arm per host pool size: `name` (2x), `name`-h1, `name`-h05."""
    return tuple(Arm(name + suffix, True, host + flags, config=config,
                     note=note if not suffix else f"{name}, host pool {ratio}x")
                 for ratio in pools for host, suffix in [HOST_POOLS[ratio]])


# T-LRU needs its two token counts (SGLang refuses threshold <= next_prompt_estimate).
# The simulator's T-LRU on Llama-3.1-8B/H100 uses threshold = the tokens prefilled
# within a 1 s TTFT budget (21,375) and next_prompt_estimate = 1,024; the testbed runs
# the trace at 1/16 tokens, so both are scaled by 1/16.
TLRU_CONFIG = '{"threshold": 1336, "next_prompt_estimate": 64}'

ARMS = (
    Arm("stock-lru", False, ("--radix-eviction-policy", "lru"), note="SGLang default"),
    Arm("stock-slru", False, ("--radix-eviction-policy", "slru")),
    Arm("stock-tlru", False, ("--radix-eviction-policy", "tlru",
                              "--radix-eviction-policy-config", TLRU_CONFIG),
        note="tail-optimized LRU for multi-turn"),
    Arm("stock-sessions", False, ("--enable-session-radix-cache",), sessions=True,
        note="radix-native sessions: session_id per program, closed at its last turn"),
    Arm("stock-lpm", False, ("--schedule-policy", "lpm"), note="longest prefix match"),
    Arm("stock-hrrn", False, ("--schedule-policy", "hrrn"),
        note="highest response ratio next, aged by prefill tokens processed"),
    Arm("stock-spf", False, ("--schedule-policy", "shortest-prefill-first"),
        note="fewest uncached prompt tokens first"),
    Arm("prototype-2s", True, ("--continuum-policy", "fixed", "--continuum-fixed-ttl", "2"),
        note="the authors' prototype: fixed 2 s TTL"),
    Arm("paper", True, ("--continuum-policy", "paper"), note="the paper's TTL rule"),
    Arm("overlay-default", True, (), note="the overlay's default policy"),
    # The batch-limited cell: the running batch, not memory, is the limit.
    *(Arm(name + "-b2", overlay, BATCH_CAP + flags, pool_tokens=ROOMY_POOL,
          note=f"{name}, running batch capped at 2, pool {ROOMY_POOL:,} tokens")
      for name, overlay, flags in (
          ("stock-lru", False, ()), ("stock-lpm", False, ("--schedule-policy", "lpm")),
          ("stock-hrrn", False, ("--schedule-policy", "hrrn")),
          ("stock-spf", False, ("--schedule-policy", "shortest-prefill-first")),
          ("overlay-default", True, ()))),
    Arm("overlay-keep-ended", True, config="keep-ended.json",
        note="the overlay's default before session 21: ended programs' KV left to LRU "
             "eviction (drop_ended off)"),
    Arm("overlay-ungated", True, config="no-gate.json",
        note="the default before session 18: no admission gate without a host tier"),
    Arm("overlay-priced", True, config="priced.json",
        note="the default before 2026-12-03: memory priced by contention, contended locks "
             "for the tool's top quantile"),
    Arm("fixed-60s", True, ("--continuum-policy", "fixed", "--continuum-fixed-ttl", "60",
                            "--continuum-lock-budget", "1.0",
                            "--continuum-per-program-cap", "1.0"),
        note="fixed 60 s TTL, lock budget and per-program cap 1.0"),
    Arm("overlay-busy1", True, config="lock-running-1.json",
        note="the overlay's default with lock_running_ratio 1: locks that pin more than "
             "the running requests' contexts give way to any waiting request"),
    Arm("overlay-busy2", True, config="lock-running-2.json",
        note="overlay-busy1 with lock_running_ratio 2"),
    Arm("overlay-busy4", True, config="lock-running-4.json",
        note="overlay-busy1 with lock_running_ratio 4"),
    # The admission gate (core/admission_gate.py): SGLang's own order and eviction, no
    # locks, new programs' first turns held while the resident programs' KV would not
    # fit the device pool; and the overlay's default with it (the default itself since
    # session 18 without a host tier: "device-only").
    Arm("gate", True, config="gate-device.json",
        note="admission gate (ThunderAgent-style, a comparison mode) over stock FCFS: no "
             "locks, new programs held while resident KV would not fit the device pool"),
    Arm("gate-spf", True, ("--schedule-policy", "shortest-prefill-first"),
        config="gate-device.json", note="the admission gate over stock "
        "shortest-prefill-first"),
    Arm("overlay-gate", True, config="overlay-gate.json",
        note="the overlay's default plus the admission gate sized to the device pool, "
             "with a host tier too (without one: the default since session 18)"),
    Arm("overlay-gate-auto", True, config="overlay-gate-auto.json",
        note="the overlay's default plus the admission gate \"auto\": new programs held "
             "while resident KV would pass twice the device pool (or both tiers)"),
    Arm("overlay-gate-thrash", True, config="overlay-gate-thrash.json",
        note="the overlay's default plus the admission gate \"thrash\": \"auto\", but "
             "the device pool while recent resumptions met memory pressure (no host tier)"),
    Arm("overlay-gate-park", True, config="overlay-gate-park.json",
        note="the overlay's default plus the admission gate \"park\": \"thrash\", and "
             "while the pool thrashes the youngest resident programs' turns wait too"),
    # Requests without a program id beside agents (the mixed cell).
    Arm("overlay-plain-aged", True, config="plain-aged.json",
        note="the overlay's default, plain requests ranked as a program one age cap old"),
    Arm("overlay-plain-fcfs", True, config="plain-fcfs.json",
        note="the overlay's default, plain requests ranked by their own arrival (the rule "
             "before 2026-12-02)"),
    Arm("overlay-plain-ahead", True, config="plain-ahead.json",
        note="the overlay's default, plain requests before unlocked agent turns"),
    # An agent that sends no identity; the server infers its programs.
    Arm("overlay-transparent", True, ("--continuum-infer-programs", "on"), plain_agents=True,
        note="the overlay's default, agent sends no program id (identity inferred)"),
    Arm("overlay-transparent-fcfs", True, ("--continuum-infer-programs", "on"),
        config="plain-fcfs.json", plain_agents=True, note="as overlay-transparent, but a request no prompt continued "
                             "yet (a first turn) ranks at its own arrival, not one age cap "
                             "earlier: what the plain-request rule costs agents without ids"),
    # A host tier (HiCache on the CPU device, patch 0012) under stock and overlay.
    Arm("stock-hicache-wt", False, HICACHE + ("--hicache-write-policy", "write_through"),
        note="stock HiCache, write_through"),
    Arm("stock-hicache-wb", False, HICACHE + ("--hicache-write-policy", "write_back"),
        note="stock HiCache, write_back"),
    Arm("stock-hicache-lpm", False, HICACHE + ("--hicache-write-policy", "write_back",
                                               "--schedule-policy", "lpm"),
        note="stock HiCache, write_back, waiting queue by longest prefix match"),
    Arm("overlay-hicache", True, HICACHE + ("--hicache-write-policy", "write_through"),
        note="the overlay's default with HiCache write_through (locks demote to host)"),
    Arm("overlay-hicache-wb", True, HICACHE + ("--hicache-write-policy", "write_back"),
        note="the overlay's default with HiCache write_back (locks demote to host)"),
    Arm("overlay-hicache-nofcfs", True, HICACHE + ("--hicache-write-policy", "write_through"),
        config="no-program-fcfs.json",
        note="overlay-hicache with the queue in SGLang's own order (request FCFS; the "
             "overlay does not reorder it at all): what program FCFS costs or gains "
             "with a host tier"),
    *_per_host_pool("overlay-hicache-lpm", ("--hicache-write-policy", "write_back",
                                             "--schedule-policy", "lpm"),
                    "no-program-fcfs.json",
                    "stock-hicache-lpm plus the overlay's locks (demoting to host), the "
                    "queue left in SGLang's lpm order", pools=("2", "4", "1")),
    Arm("stock-hicache-hrrn", False, HICACHE + ("--hicache-write-policy", "write_back",
                                                "--schedule-policy", "hrrn"),
        note="stock HiCache write-back, hrrn (host hits count as cached)"),
    Arm("stock-hicache-spf", False, HICACHE + ("--hicache-write-policy", "write_back",
                                               "--schedule-policy", "shortest-prefill-first"),
        note="stock HiCache write-back, shortest-prefill-first (host hits count as cached)"),
    Arm("stock-hicache-sessions", False, HICACHE + ("--hicache-write-policy", "write_back",
                                                    "--enable-session-radix-cache"),
        sessions=True, note="radix-native sessions with HiCache write-back"),
    Arm("stock-hicache-lpm-h1", False, HICACHE_SMALL + ("--hicache-write-policy",
                                                        "write_back", "--schedule-policy",
                                                        "lpm"),
        note="stock-hicache-lpm with the host pool the device pool's size"),
    Arm("overlay-hicache-h1", True, HICACHE_SMALL + ("--hicache-write-policy",
                                                     "write_through"),
        note="overlay-hicache with the host pool the device pool's size (host holds keep "
             "programs inside their TTL from host eviction)"),
    Arm("overlay-hicache-any-h1", True, HICACHE_SMALL + ("--hicache-write-policy",
                                                         "write_through"),
        config="scope-any.json",
        note="overlay-hicache-any with the host pool the device pool's size"),
    Arm("stock-hicache-spf-h1", False, HICACHE_SMALL + ("--hicache-write-policy", "write_back",
                                                        "--schedule-policy",
                                                        "shortest-prefill-first"),
        note="stock-hicache-spf with the host pool the device pool's size"),
    Arm("stock-hicache-hrrn-h1", False, HICACHE_SMALL + ("--hicache-write-policy",
                                                         "write_back", "--schedule-policy",
                                                         "hrrn"),
        note="stock-hicache-hrrn with the host pool the device pool's size"),
    Arm("stock-hicache-lpm-h4", False, HICACHE_LARGE + ("--hicache-write-policy",
                                                        "write_back", "--schedule-policy",
                                                        "lpm"),
        note="stock-hicache-lpm with the host pool 4x the device pool's size (every "
             "context fits)"),
    Arm("stock-hicache-spf-h4", False, HICACHE_LARGE + ("--hicache-write-policy",
                                                        "write_back", "--schedule-policy",
                                                        "shortest-prefill-first"),
        note="stock-hicache-spf with the host pool 4x the device pool's size"),
    Arm("stock-hicache-lpm-h05", False, HICACHE_HALF + ("--hicache-write-policy",
                                                        "write_back", "--schedule-policy",
                                                        "lpm"),
        note="stock-hicache-lpm with the host pool half the device pool's size"),
    Arm("stock-hicache-spf-h05", False, HICACHE_HALF + ("--hicache-write-policy", "write_back",
                                                        "--schedule-policy",
                                                        "shortest-prefill-first"),
        note="stock-hicache-spf with the host pool half the device pool's size"),
    Arm("overlay-hicache-h05", True, HICACHE_HALF + ("--hicache-write-policy",
                                                     "write_through"),
        note="overlay-hicache with the host pool half the device pool's size"),
    *_per_host_pool("overlay-hicache-younger", WRITE_THROUGH, "scope-younger.json",
                    "overlay-hicache where only younger programs' locks give way (as "
                    "without a host tier), not any lock"),
    Arm("overlay-hicache-fcfs-h1", True, HICACHE_SMALL + WRITE_THROUGH,
        config="program-fcfs.json",
        note="the default before 2026-12-06 (program FCFS, scope younger), host pool 1x"),
    *_per_host_pool("overlay-hicache-room", WRITE_THROUGH, "scope-host-room.json",
                    "overlay-hicache where any lock gives way while the host pool's free "
                    "slots could take every lock's context, else only younger programs' "
                    "locks"),
    *_per_host_pool("overlay-hicache-room-lpm",
                    ("--hicache-write-policy", "write_back", "--schedule-policy", "lpm"),
                    "room-stock-order.json",
                    "stock-hicache-lpm plus the overlay's locks under scope host_room, the "
                    "queue left in SGLang's lpm order"),
    Arm("overlay-hicache-nolock", True, HICACHE + ("--hicache-write-policy", "write_back"),
        config="no-locks.json",
        note="the overlay's queue order (srpt) with no locks, stock HiCache write-back: "
             "what the order alone does where the host pool holds every context"),
    *_per_host_pool("overlay-hicache-nlr", WRITE_THROUGH, "no-lock-host-room.json",
                    "the overlay's default with no lock while the host pool could take the "
                    "context (host_locks room; no_lock_with_host_room when it ran)"),
    *_per_host_pool("overlay-hicache-hl", WRITE_THROUGH, "host-locks-learned.json",
                    "the overlay's default with no lock while unlocked turns' "
                    "continuations hit (host_locks learned)"),
    *_per_host_pool("overlay-hicache-fits", WRITE_THROUGH, "host-locks-fits.json",
                    "the overlay's default with no lock while the live programs' contexts "
                    "fit the host pool, or its free slots could take the context "
                    "(host_locks fits), ended programs' KV left to LRU (drop_ended off: "
                    "the default before session 21)"),
    *_per_host_pool("overlay-hicache-fits-wb", ("--hicache-write-policy", "write_back"),
                    "host-locks-fits.json",
                    "overlay-hicache-fits with HiCache write-back (stock's best arm's "
                    "policy): the host holds what the device evicted, so the two tiers' "
                    "sizes add up in the fit", pools=("4", "2", "1", "0.5")),
    *_per_host_pool("overlay-hicache-fits-wb-drop", ("--hicache-write-policy", "write_back"),
                    "host-locks-fits-drop.json",
                    "the default with a host tier since session 21: overlay-hicache-fits-wb "
                    "that gives up an ended program's own device KV at its end "
                    "(drop_ended)", pools=("4", "2", "1", "0.5")),
    *_per_host_pool("overlay-hicache-nolock-wb", ("--hicache-write-policy", "write_back"),
                    "no-locks.json",
                    "the overlay's queue order (srpt) with no locks at all, HiCache "
                    "write-back: what the locks of host_locks fits buy where the tiers "
                    "cannot hold every context", pools=("1", "0.5")),
    *_per_host_pool("overlay-hicache-busy2-wb", ("--hicache-write-policy", "write_back"),
                    "lock-running-2-on.json",
                    "the default with a host tier and lock_running_ratio 2 whatever the host "
                    "pool holds (lock_running_host on; session 14 ran it on "
                    "overlay-hicache-fits-wb)", pools=("1",)),
    *_per_host_pool("overlay-hicache-busy4-wb", ("--hicache-write-policy", "write_back"),
                    "lock-running-4-on.json",
                    "overlay-hicache-busy2-wb with lock_running_ratio 4", pools=("1",)),
    *_per_host_pool("overlay-hicache-busy2room-wb", ("--hicache-write-policy", "write_back"),
                    "lock-running-2-room.json",
                    "the default with a host tier and lock_running_ratio 2 while the host "
                    "pool's free slots could take any lock's context (lock_running_host "
                    "room)", pools=("1", "0.5")),
    *_per_host_pool("overlay-hicache-always", WRITE_THROUGH, "host-locks-always.json",
                    "the overlay's default before host_locks room: locks with a host tier "
                    "as without one", pools=("2", "1")),
    *_per_host_pool("gate-hicache-lpm", ("--hicache-write-policy", "write_back",
                                          "--schedule-policy", "lpm"), "gate-tiers.json",
                    "the admission gate sized to device plus host tier over stock HiCache "
                    "+ lpm (write-back): a comparison mode"),
    *_per_host_pool("overlay-hicache-gate-wb", ("--hicache-write-policy", "write_back"),
                    "overlay-gate-tiers.json",
                    "overlay-hicache-fits-wb plus the admission gate sized to what the "
                    "device and host tiers hold together (mechanism c)", pools=("1", "0.5")),
    Arm("overlay-hicache-any", True, HICACHE + ("--hicache-write-policy", "write_through"),
        config="scope-any.json",
        note="overlay-hicache where any lock (youngest first) gives way to a waiting "
             "request, not only younger programs' locks: with a host tier a lock that "
             "gives way costs a reload, not a rebuild"),
)
DEFAULT_ARM = "overlay-default"
QUICK_ARMS = ("stock-lru", "overlay-default", "fixed-60s")


@dataclass(frozen=True)
class Load:
    name: str
    concurrency: int  # programs at a time (closed loop); unused where `rate` is set
    note: str
    # Plain traffic beside the agents: (requests/s, prompt tokens, output tokens)
    plain: tuple[float, int, int] | None = None
    # Open arrivals: programs start at Poisson times of this rate (programs/s) instead
    # of `concurrency` at a time, the paper's protocol.
    rate: float | None = None
    programs: int | None = None  # the first N programs of the trace (default: the setup's)


# Shared trace at 1/16 tokens: a program's context grows to ~1,300-2,400 tokens over 10
# turns; 8 at a time hold ~14,000 tokens (~2.3x the 6,000-token pool), 2 hold ~4,000.
LOADS = (Load("contended", 8, "8 programs at a time: contexts ~2.3x the pool"),
         Load("light", 2, "2 programs at a time: contexts fit the pool"),
         # Single-turn requests without identity beside the contended agents.
         Load("mixed", 8, "contended + plain requests (300 tokens in, 16 out, Poisson "
              "0.5/s, no program id)", plain=(0.5, 300, 16)))
# Opt-in loads (`--loads solo,open`; a full campaign runs LOADS only):
# - solo: one program at a time, every program's JCT without contention, the floor under
#   any scheduler's mean JCT on the same programs;
# - open: 24 programs arriving at Poisson times (seed 0) at 0.5/s, about what stock
#   HiCache serves in the contended cell (31 programs/min), the paper's protocol.
EXTRA_LOADS = (Load("solo", 1, "1 program at a time: the no-contention floor"),
               Load("open", 0, "24 programs, Poisson arrivals 0.5/s", rate=0.5,
                    programs=24))
# overlay-plain-aged is the default since 2026-12-02 (kept to read older results).
MIXED_ARMS = ("stock-lru", "stock-lpm", "overlay-default", "fixed-60s",
              "overlay-plain-fcfs", "overlay-plain-ahead")
# Arms that only the mixed cell runs (they differ from the default only for plain traffic)
MIXED_ONLY = ("overlay-plain-aged", "overlay-plain-fcfs", "overlay-plain-ahead")


@dataclass(frozen=True)
class Setup:
    """Workload and server size of one campaign (full or quick)."""
    scaling: Scaling
    pool_tokens: int
    loads: tuple[Load, ...] = LOADS
    arms: tuple[str, ...] = field(default_factory=lambda: tuple(a.name for a in ARMS))
    workload: str = "trace"   # trace, a synthetic preset, or a trace file (run.py --workload)

    @property
    def workload_name(self) -> str:
        """The workload as cells and result files name it (a file by its stem)."""
        return Path(self.workload).name.split(".")[0] if "/" in self.workload \
            or self.workload.endswith((".jsonl", ".gz")) else self.workload


FULL = Setup(Scaling(token_scale=1 / 16, time_scale=1.0, max_turns=10, output_cap=None,
                     max_gap_s=5.0, programs=8), pool_tokens=6000)
# Quick: 4 programs x 4 turns, pool halved so 4 at a time still overfill it ~2x.
QUICK = Setup(Scaling(token_scale=1 / 16, time_scale=1.0, max_turns=4, output_cap=None,
                      max_gap_s=3.0, programs=4), pool_tokens=3000,
              loads=(Load("contended", 4, "4 programs at a time: contexts ~2x the pool"),),
              arms=QUICK_ARMS)


def server_flags(arm: Arm, pool_tokens: int, preset: str,
                 config_file: Path | None = None) -> list[str]:
    """The launcher's flags of one run of `arm` (``run.launch`` adds
    ``--continuum-disable`` to a stock arm's). `pool_tokens`: the setup's device pool,
    unless the arm sets its own."""
    flags = ["--model-preset", preset, "--max-total-tokens", str(arm.pool(pool_tokens)),
             "--random-seed", "0", "--enable-metrics", *arm.flags]
    if arm.overlay and config_file is not None:
        flags += ["--continuum-config", str(config_file)]
    return flags


def write_config(arm: Arm, folder: Path, name: str,
                 prefill_profile: Path | None = None) -> Path | None:
    """An overlay arm's config file: its keys, and the prefill profile the testbed was
    measured with (None for a stock arm, or when there is nothing to set)."""
    keys = arm.settings()
    if prefill_profile is not None:
        keys["prefill_profile"] = str(Path(prefill_profile).resolve())
    if not arm.overlay or not keys:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.continuum.json"
    path.write_text(json.dumps(keys, indent=1, sort_keys=True))
    return path


def arm(name: str) -> Arm:
    for a in ARMS:
        if a.name == name:
            return a
    raise ValueError(f"arm {name!r}: unknown; accepted: {', '.join(a.name for a in ARMS)}")


def pick_loads(setup: Setup, names: str | None) -> list[Load]:
    """The setup's loads (`names` None), or those named (comma-separated), the opt-in
    EXTRA_LOADS included; an unknown name is an error naming the accepted ones."""
    if not names:
        return list(setup.loads)
    known = {ld.name: ld for ld in (*setup.loads, *EXTRA_LOADS)}
    wanted = names.split(",")
    bad = [n for n in wanted if n not in known]
    if bad:
        raise ValueError(f"--loads {names!r}: unknown {', '.join(bad)}; accepted: "
                         + ", ".join(known))
    return [known[n] for n in wanted]
