"""Discrete-event simulator of an SGLang-like engine driving the Continuum policy core.

Entry points: :class:`Simulator` (one run), :func:`run_one`/:func:`sweep` (grids),
``python -m sglang_continuum.sim`` (CLI). See ``experiments/sim/README.md``.
"""

from .engine import EngineConfig
from .metrics import ProgramRecord, Summary, TurnRecord
from .policies import POLICIES, SimPolicy, make_policy
from .predictor import BatchShape, LinearPredictor, Predictor, StepCoefficients
from .profiles import Profile, load_profile
from .simulator import Simulator
from .sweep import RunSpec, run_one, sweep
from .workload import ProgramSpec, Turn, load_workload, poisson_arrivals

__all__ = [
    "BatchShape", "EngineConfig", "LinearPredictor", "POLICIES", "Predictor", "Profile",
    "ProgramRecord", "ProgramSpec", "RunSpec", "SimPolicy", "Simulator", "StepCoefficients",
    "Summary", "Turn", "TurnRecord", "load_profile", "load_workload", "make_policy",
    "poisson_arrivals", "run_one", "sweep",
]
