"""The program admission gate in a server (``admission_gate`` in the config file; the
default "device-only": the device gate without a host tier, none with one).

``core/admission_gate.py`` decides; this keeps its input (the resident programs and
their KV, ``Residents``) from the scheduler's events and tells the admission hook
(``hooks.around_add_one_req``) which waiting requests to pass over this step: a new
program's first turn while the resident programs' KV plus its prompt would not fit the
limit, and, once one is held, every other new program's in the same step (none
overtakes an older held one: the queue is sorted before admission). Mode "park"
also passes over a resident program's later turn while the pool thrashes and the
programs that started before it would not fit the device pool beside it (``parks``).
Preempted turns, requests without a program id and inferred programs not yet proven
are never held. While the engine has nothing to run, a program paused between turns
(from a turn's end to its next turn's arrival: its tool call) longer than the policy's
learned horizon (``ContinuumPolicy.paused_horizon_s``: ``max_ttl_s`` until
``cold_start_samples`` tool calls have returned, then the p99 of their durations) leaves
the resident table: a client that never marks its last turn cannot keep an idle engine
idle for longer than that.
"""

from __future__ import annotations

import math
from typing import Optional

from sglang_continuum.core.admission_gate import (AdmissionGate, Residents, gate_limit,
                                                  park_limit)


def output_budget(req) -> int:
    """The output tokens SGLang reserves for a request (its clipped max_new_tokens)."""
    from sglang.srt.managers.schedule_policy import CLIP_MAX_NEW_TOKENS

    return min(max(req.sampling_params.max_new_tokens - len(req.output_ids), 0),
               CLIP_MAX_NEW_TOKENS)


class Gate:
    """A gate of `mode` (core gate_limit's) over a device pool of ``capacity_tokens``
    and tiers holding ``tiers_tokens`` together (None: no host tier); ``idle_s``: how
    long a program with no turn admitted or finished stays resident at most."""

    def __init__(self, mode: str, capacity_tokens: int, tiers_tokens: Optional[float],
                 idle_s: float) -> None:
        self._limit = (mode, capacity_tokens, tiers_tokens)
        self.gate = AdmissionGate(gate_limit(*self._limit))  # at contention 0
        self.residents = Residents(idle_s)
        self.held = 0        # requests passed over at the last admission pass
        self.held_total = 0  # passes over, summed over steps

    def started(self, key, tokens: int, now: float) -> None:
        self.residents.update(key, tokens, now, running=True)

    def arrived(self, key, now: float) -> None:
        """A turn of `key` arrived: a resident program is no longer paused (its wait in
        the queue is not a tool call)."""
        self.residents.resume(key, now)

    def finished(self, key, context_tokens: int, last_turn: bool, now: float) -> None:
        if last_turn:
            self.residents.drop(key)
        else:
            self.residents.update(key, context_tokens, now, running=False)

    def dropped(self, key) -> None:
        self.residents.drop(key)

    def new_pass(self) -> None:
        """An admission pass begins (one per scheduler step that admits)."""
        self.held = 0

    def holds(self, key, prompt_tokens: int, holding: bool, now: float,
              contention: float = 0.0, paused_s: float = math.inf) -> bool:
        """Whether the first turn of a program `key` (None: not gated) waits this
        pass; `holding`: a new program was already held in it; `contention`: the
        policy's contention gauge (mode "thrash" reads it); `paused_s`: how long a
        program paused between turns stays resident (``Residents.expire``)."""
        if key is None or key in self.residents:
            return False
        if not holding:
            self.residents.expire(now, paused_s)
            gate = AdmissionGate(gate_limit(*self._limit, contention))
            holding = not gate.admits(self.residents.total, len(self.residents),
                                      prompt_tokens)
        if holding:
            self.held += 1
            self.held_total += 1
        return holding

    def parks(self, key, own_tokens: int, now: float, contention: float = 0.0,
              paused_s: float = math.inf) -> bool:
        """Whether a later turn of the resident program `key` (``own_tokens``: its
        prompt plus output budget) waits this pass (mode "park" while the pool thrashes:
        the resident programs that started before it would not fit the device pool
        beside it; the oldest never waits)."""
        limit = park_limit(*self._limit, contention)
        if math.isinf(limit):
            return False
        self.residents.expire(now, paused_s)
        if key not in self.residents:
            return False
        parked = not AdmissionGate(limit, limit).keeps(*self.residents.older(key),
                                                       own_tokens)
        if parked:
            self.held += 1
            self.held_total += 1
        return parked


def gate_for(mode: str, capacity_tokens: int, tiers_tokens: Optional[float],
             idle_s: float) -> Optional[Gate]:
    """The gate a server runs with (None: "off", and "device-only" with a host tier);
    its limit: core gate_limit ("tiers" without a host tier is the device pool)."""
    if mode == "off" or (mode == "device-only" and tiers_tokens is not None):
        return None
    return Gate(mode, capacity_tokens, tiers_tokens, idle_s)
