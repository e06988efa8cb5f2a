"""A testbed knob: the host tier's reloads paced like a GPU's host link.

On the CPU device a HiCache reload is a DRAM-to-DRAM copy: reloading a 2,000-token
context of the ``testbed-100m`` preset (16 MiB) takes a few milliseconds against a
0.5 s rebuild, while on an H100 a 40k-token Llama-3.1-8B context reloads over PCIe in
~0.16 s against a 2.4 s rebuild (1 : 15). With ``SGLANG_CONTINUUM_TESTBED_HOST_BYTES_PER_S``
set (bytes per second), every host-to-device load of the host KV pool takes at least
bytes / rate: the copy, then a sleep for the rest, in the scheduler thread (HiCache on
the CPU device runs its copies inline; on a GPU a reload overlaps the layers' compute,
so this is the slower side). Device-to-host backups are not paced: on a GPU they run on
their own stream beside compute.

For the live testbed only (``experiments/live``); it can only slow a server down. The
plugin installs it in every SGLang process only when the variable is set.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Callable, Mapping

from sglang_continuum.adapter.settings import TESTBED_HOST_LINK_ENV as ENV

logger = logging.getLogger(__name__)

_MARK = "_continuum_paced"


def rate_from(environ: Mapping[str, str]) -> float | None:
    """The pacing rate in bytes/s, None when unset; a bad value raises naming the variable."""
    raw = environ.get(ENV, "").strip()
    if not raw:
        return None
    try:
        rate = float(raw)
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"{ENV}={raw!r}: expected a number of bytes per second > 0")
    return rate


# One line per reload (at its last layer), which the live harness sums per run
# (experiments/live/server_steps.py): the engine time host-tier reloads took.
RELOAD_LINE = "testbed link: reload of %d tokens took %.4f s"
_TOOK = "_continuum_reload_s"  # on the host pool: this reload's layers so far


def paced(load: Callable, rate: float, sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.perf_counter,
          log: Callable[..., None] = logger.info) -> Callable:
    """`load` (HostKVCache.load_to_device_per_layer_physical) taking at least the time its
    bytes need at `rate`: one layer of len(host_indices) tokens. After a reload's last
    layer, `log` gets RELOAD_LINE with its tokens and the time its layers took."""
    def wrapper(self, device_pool, host_indices, device_indices, layer_id, io_backend,
                **kw):
        start = clock()
        load(self, device_pool, host_indices, device_indices, layer_id, io_backend, **kw)
        layers = max(1, self.layer_num)
        nbytes = len(host_indices) * self.get_size_per_token() / layers
        rest = nbytes / rate - (clock() - start)
        if rest > 0:
            sleep(rest)
        took = getattr(self, _TOOK, 0.0) + clock() - start
        if layer_id >= layers - 1:
            log(RELOAD_LINE, len(host_indices), took)
            took = 0.0
        setattr(self, _TOOK, took)
    setattr(wrapper, _MARK, True)
    return wrapper


def install(environ: Mapping[str, str] = os.environ) -> bool:
    """Pace host-tier reloads in this process when the variable is set."""
    rate = rate_from(environ)
    if rate is None:
        return False
    from sglang.srt.mem_cache.pool_host.base import HostKVCache

    current = HostKVCache.load_to_device_per_layer_physical
    if not getattr(current, _MARK, False):
        HostKVCache.load_to_device_per_layer_physical = paced(current, rate)
        logger.warning("testbed: host-tier reloads paced at %.0f MB/s (%s)", rate / 1e6, ENV)
    return True
