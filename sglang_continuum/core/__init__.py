"""The pure Continuum policy core: no sglang, no torch, no wall clock.

Shared by the SGLang adapter, the simulator and the benches. See docs/architecture.md
and docs/design.md.
"""

from .config import MODES, PolicyConfig
from .estimates import EtaEstimator, PrefillModel, QueueDelayWindow, ToolStats
from .hints import HintError, ProgramHints, parse_hints, parse_ttl, read_conventions
from .inference import (Arrival, FirstTurns, IdentityConfig, IdentityTable, InferredPrograms,
                        InferredTurn, ProgramInference, Verdict, detect_tool)
from .lock_table import ProgramKey
from .policy import ContinuumPolicy, LockDecision
from .queue_order import queue_key
from .snapshot import TAU_BUCKETS, PolicySnapshot
from .ttl import choose_ttl, cold_start_ttl
from .turns import KvLocks
from . import turns

__all__ = [
    "MODES", "TAU_BUCKETS", "Arrival", "ContinuumPolicy", "EtaEstimator", "FirstTurns",
    "HintError", "IdentityConfig", "IdentityTable", "InferredPrograms", "InferredTurn",
    "KvLocks", "LockDecision", "PolicyConfig", "PolicySnapshot", "PrefillModel",
    "ProgramHints", "ProgramInference", "ProgramKey", "QueueDelayWindow", "ToolStats",
    "Verdict", "choose_ttl", "cold_start_ttl", "detect_tool", "parse_hints", "parse_ttl",
    "queue_key", "read_conventions", "turns",
]
