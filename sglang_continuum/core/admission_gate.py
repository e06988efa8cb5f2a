"""Program admission gate: the overlay's default without a host tier ("device-only"),
the other modes comparison modes.

In the spirit of ThunderAgent's program-level admission: a new program's first turn is
held while the KV of the programs already resident (started and not finished, running
or paused for a tool) plus the new program's first prompt would not fit a limit: the
device pool, or a variant sized to device plus host tier. Held programs resume in the
order of their first arrival: once one new program is held, every younger new program
waits behind it, so none overtakes an older held one. Continuing turns of resident
programs are never held (but in mode "park"). With no program resident the head is
always admitted, so the gate cannot deadlock an idle engine; while the engine idles, a
program paused longer than tool calls take leaves the resident table
(``Residents.expire``), so a client that never marks its last turn cannot keep it idle
for long.

Pure: the driver passes the resident token count and program count it sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable


# Limits the gate runs with (``gate_limit``): "device" the device pool, "tiers" what the
# device and host tiers hold together, "auto" the larger of OVERCOMMIT times the device
# pool and both tiers: resident programs spend part of their time in tool calls, so
# their contexts need not all be on the device at once (the simulator's regime map:
# 1 x the device pool held programs the engine had room for, 1.5 x lost targets, 2 x and
# 2.5 x met the most). "thrash": "auto", but the device pool while the pool thrashes
# without a host tier: while more than THRASH_LEVEL of recent resumptions met memory
# pressure (the core's contention gauge: locks gave way or contexts were lost)
# (docs/design.md, "The admission gate that reads thrash"). "park": "thrash", and while
# the pool thrashes a resident program's later turn also waits while the resident
# programs that started before it would not fit the device pool beside it
# (``park_limit``, ``AdmissionGate.keeps``): the youngest park, the oldest go on.
# "device-only" (the server's default since session 18): "device" where the device
# pool is the only tier, no gate with a host tier (docs/design.md, "The device gate
# becomes the default without a host tier").
GATE_MODES = ("device", "tiers", "auto", "thrash", "park", "device-only")
OVERCOMMIT = 2.0
THRASH_LEVEL = 0.2


def gate_limit(mode: str, device_tokens: float, tiers_tokens: float | None,
               contention: float = 0.0) -> float:
    """The resident KV (tokens) a gate of `mode` admits new programs up to;
    `tiers_tokens`: what device and host tiers hold together (None: no host tier;
    math.inf: a host tier without bound, then "tiers" and "auto" never hold);
    `contention`: the contention gauge's level (0..1), read by "thrash"."""
    if mode not in GATE_MODES:
        raise ValueError(f"admission gate mode {mode!r}: expected one of "
                         f"{', '.join(GATE_MODES)}")
    both = device_tokens if tiers_tokens is None else max(device_tokens, tiers_tokens)
    if mode == "device-only":
        return device_tokens if tiers_tokens is None else math.inf
    if mode == "device" or (mode in ("thrash", "park")
                            and thrashing(tiers_tokens, contention)):
        return device_tokens
    if mode == "tiers":
        return both
    return max(OVERCOMMIT * device_tokens, both)


def thrashing(tiers_tokens: float | None, contention: float) -> bool:
    """The device pool thrashes: no host tier and the contention gauge past
    THRASH_LEVEL."""
    return tiers_tokens is None and contention > THRASH_LEVEL


def park_limit(mode: str, device_tokens: float, tiers_tokens: float | None,
               contention: float = 0.0) -> float:
    """The KV (tokens) of the resident programs that started before it, plus its own,
    that a resident program's next turn may start within (``AdmissionGate.keeps``):
    math.inf (never parked) but in mode "park" while the pool thrashes: the device
    pool."""
    if mode == "park" and thrashing(tiers_tokens, contention):
        return device_tokens
    return math.inf


@dataclass(frozen=True)
class AdmissionGate:
    """``limit_tokens``: resident KV (tokens) the gate admits new programs up to
    (``math.inf``: never holds)."""

    limit_tokens: float
    park_tokens: float = math.inf

    def __post_init__(self):
        if not (isinstance(self.limit_tokens, (int, float)) and self.limit_tokens > 0):
            raise ValueError(f"AdmissionGate.limit_tokens={self.limit_tokens!r}: expected "
                             "tokens > 0 (math.inf for a gate that never holds)")

    def admits(self, resident_tokens: int, resident_programs: int, first_prompt: int) -> bool:
        """Whether a new program whose first prompt is ``first_prompt`` tokens may start
        while ``resident_programs`` programs hold ``resident_tokens`` tokens."""
        if resident_programs == 0 or math.isinf(self.limit_tokens):
            return True
        return resident_tokens + first_prompt <= self.limit_tokens

    def keeps(self, older_tokens: int, older_programs: int, own_tokens: int) -> bool:
        """Whether a resident program's next turn (``own_tokens``: its context plus
        output budget) may start while the ``older_programs`` resident programs that
        started before it hold ``older_tokens``: the oldest always may, the others
        while all of them fit ``park_tokens``, so the youngest park first."""
        if older_programs == 0 or math.isinf(self.park_tokens):
            return True
        return older_tokens + own_tokens <= self.park_tokens

    def admitted(self, resident_tokens: int, resident_programs: int,
                 first_prompts: Iterable[int]) -> int:
        """How many of the waiting new programs (``first_prompts`` in first-arrival
        order) start now: a prefix of them, each counted resident once admitted."""
        n = 0
        for prompt in first_prompts:
            if not self.admits(resident_tokens, resident_programs, prompt):
                break
            resident_tokens += prompt
            resident_programs += 1
            n += 1
        return n


class Residents:
    """The gate's input in a server: the programs started (a turn admitted) and not
    ended, each with its KV tokens (its latest context, or a running turn's prompt plus
    its output budget), in order of their last turn's arrival, admission or finish.

    A program leaves on its last turn, on an abort, after ``idle_s`` without a turn
    arriving, admitted or finished, or, paused between turns (from a turn's end to its
    next turn's arrival: a tool call), once it has been paused longer than
    ``expire``'s ``paused_s``: the drivers pass the learned horizon within which tool
    calls return (``ContinuumPolicy.paused_horizon_s``) while the engine has
    nothing to run, and math.inf while it is busy. So a client that never marks its
    last turn cannot keep an idle engine idle for longer than a tool call takes, and a
    tool that outruns the horizon does not let a new program in while others run; a
    program that left joins again with its next turn. Every input is an event the
    scheduler sees, the running batch and the step's shared time, so every TP rank
    holds the same table.
    """

    def __init__(self, idle_s: float) -> None:
        if not idle_s > 0:
            raise ValueError(f"Residents.idle_s={idle_s!r}: expected seconds > 0")
        self._idle_s = idle_s
        # key -> (tokens, last activity, start's sequence number, running);
        # insertion order = last activity order
        self._programs: dict[object, tuple[int, float, int, bool]] = {}
        self._starts = 0
        self.total = 0

    def __len__(self) -> int:
        return len(self._programs)

    def __contains__(self, key: object) -> bool:
        return key in self._programs

    def update(self, key: object, tokens: int, now: float, running: bool = True) -> None:
        """A turn of `key` was admitted (`running`; `tokens`: prompt plus output
        budget) or finished (not `running`; `tokens`: its context)."""
        entry = self._programs.get(key)
        if entry is None:
            started, self._starts = self._starts, self._starts + 1
        else:
            started = entry[2]
            self.drop(key)
        self._programs[key] = (tokens, now, started, running)
        self.total += tokens

    def resume(self, key: object, now: float) -> None:
        """A turn of the resident program `key` arrived: it is no longer paused (its
        wait in the queue counts as running)."""
        entry = self._programs.get(key)
        if entry is not None and not entry[3]:
            self.update(key, entry[0], now, running=True)

    def drop(self, key: object) -> None:
        """The program ended or was aborted."""
        entry = self._programs.pop(key, None)
        if entry is not None:
            self.total -= entry[0]

    def older(self, key: object) -> tuple[int, int]:
        """The KV tokens and the count of the resident programs that started before
        `key` (all of them for a program not resident)."""
        entry = self._programs.get(key)
        mine = self._starts if entry is None else entry[2]
        tokens = count = 0
        for kv, _, started, _ in self._programs.values():
            if started < mine:
                tokens += kv
                count += 1
        return tokens, count

    def older_all(self) -> dict[object, tuple[int, int]]:
        """``older`` of every resident program, in one pass."""
        out: dict[object, tuple[int, int]] = {}
        tokens = count = 0
        for started, key, kv in sorted((e[2], k, e[0]) for k, e in self._programs.items()):
            out[key] = (tokens, count)
            tokens += kv
            count += 1
        return out

    def expire(self, now: float, paused_s: float = math.inf) -> None:
        """Forget programs idle longer than ``idle_s``, and those paused between turns
        longer than `paused_s`."""
        bound = min(self._idle_s, paused_s)
        gone = []
        for key, (_, seen, _, running) in self._programs.items():
            if now - seen <= bound:
                break  # the rest are more recent
            if now - seen > (self._idle_s if running else bound):
                gone.append(key)
        for key in gone:
            self.drop(key)

    def next_expiry(self, paused_s: float) -> float:
        """When the next paused program leaves by `paused_s` (math.inf: none
        paused)."""
        for _, seen, _, running in self._programs.values():
            if not running:
                return seen + paused_s
        return math.inf
