"""The pure Continuum policy core: no sglang, no torch, no wall clock.

Shared by the SGLang adapter, the simulator and the benches. See docs/architecture.md
and docs/design.md.
"""

from .config import MODES, PolicyConfig
from .dp_routing import DpRoutingConfig, Route, StickyRanks
from .durations import ToolStats
from .estimators import EtaEstimator, QueueDelayWindow
from .inference import (Arrival, FirstTurns, IdentityConfig, IdentityTable, InferredPrograms,
                        InferredTurn, ProgramInference, Verdict, detect_tool)
from .hints import HintError, ProgramHints, parse_hints, parse_ttl
from .policy import ContinuumPolicy, LockDecision
from .prefill import PrefillModel
from .programs import ProgramKey
from .queue_order import queue_key
from .snapshot import TAU_BUCKETS, PolicySnapshot
from .ttl import choose_ttl, cold_start_ttl
from .turns import KvLocks
from . import turns

__all__ = [
    "MODES", "TAU_BUCKETS", "ContinuumPolicy", "DpRoutingConfig", "EtaEstimator", "HintError", "IdentityConfig", "IdentityTable",
    "FirstTurns", "InferredPrograms", "InferredTurn", "LockDecision", "Arrival", "ProgramInference", "Verdict",
    "KvLocks", "PolicyConfig", "PolicySnapshot", "PrefillModel", "ProgramHints", "ProgramKey",
    "QueueDelayWindow", "Route", "StickyRanks", "ToolStats", "choose_ttl", "cold_start_ttl", "detect_tool",
    "parse_hints", "parse_ttl", "queue_key", "turns",
]
