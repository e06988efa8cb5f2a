"""CPU seconds a server's process group has used, and the machine's load, per run.

On a shared 2-core machine the wall-clock numbers carry other people's load; the
server's own CPU seconds (all its processes: HTTP, scheduler, detokenizer) measure the
work a run cost, whatever else ran beside it.
"""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """user + system CPU seconds of the live processes in process group ``pgid``."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        # fields[0] is the state (field 3); pgrp is field 5, utime 14, stime 15
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def load_average() -> float:
    return os.getloadavg()[0]
