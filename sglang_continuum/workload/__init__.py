"""Agent workloads: programs (lists of turns) from the shared trace or synthetic
generators, and the scaling knobs that shrink them for small replays.

Public API (shared by ``sglang_continuum.replay`` and the simulator):

- :class:`Turn` ``(prompt, output, tools, gap_s)`` and :class:`Program`
  ``(program_id, turns)``: frozen, validated.
- :func:`load_trace(path, limit)` -> programs; :class:`TraceError` names line and field.
- :func:`generate(spec_or_name, n, seed)` with :data:`PRESETS` ``swebench``/``bfcl``
  (:class:`SyntheticSpec`).
- :class:`Scaling` ``(token_scale, time_scale, max_turns, output_cap, max_gap_s,
  programs)``: ``.apply(programs)``, ``.describe()``.
- :func:`describe(programs)`: the paper-table statistics of a workload.
- :func:`load(source, seed, scaling)`: ``"trace"``, a ``.jsonl`` path, or a preset name.
"""

from .program import Program, Turn
from .scaling import Scaling
from .stats import describe
from .synthetic import PRESETS, SyntheticSpec, generate
from .trace import BUNDLED_TRACE, TraceError, load_trace, parse_line
from .source import load

__all__ = [
    "PRESETS", "Program", "BUNDLED_TRACE", "Scaling", "SyntheticSpec", "TraceError", "Turn",
    "describe", "generate", "load", "load_trace", "parse_line",
]
