"""The overlay's own cost, measured: ``python -m benchmarks.overhead``.

Three parts, each reporting overlay/stock ratios with min, median and max over repeats:

- :mod:`.cache_bench`: radix-cache operations, ContinuumRadixCache (with its Controller
  and TTL locks) vs SGLang's UnifiedRadixCache, built standalone on the CPU (:mod:`.caches`).
- :mod:`.policy_bench`: the policy core's work per scheduler step at 100 / 1,000 /
  10,000 programs, and its fitted growth exponent.
- :mod:`.e2e_bench`: decode throughput and TTFT of the CPU server, overlay on (no program
  ids) vs off.

:mod:`.cli` parses the command line, runs the parts and writes the report.
"""

from .cache_bench import CacheSpec
from .e2e_bench import E2ESpec
from .policy_bench import PolicySpec

__all__ = ["CacheSpec", "E2ESpec", "PolicySpec"]
