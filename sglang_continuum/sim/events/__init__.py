"""One small file per event type. Priorities order events at equal times: expiries
and arrivals land before the engine plans its next batch."""

from .engine_step import EngineStep
from .lock_expiry import LockExpiry
from .program_arrival import ProgramArrival
from .turn_arrival import TurnArrival

__all__ = ["EngineStep", "LockExpiry", "ProgramArrival", "TurnArrival"]
