"""Calibrate the testbed to the machine at hand, once per campaign (``calibration.json``).

The testbed's point is its ratios, and the same preset runs at very different speeds on
different CPUs: ``testbed-100m`` rebuilt a 2,000-token context in 1.64 s on the 2-core
AMD EPYC where it was designed, and in 0.58 s on a 2-core Xeon with AMX (bf16 matmuls
15x faster than fp32) while its decode step was slower there (31 vs 22 ms). So before
the first run, one stock server of the preset is measured:

- the prefill fit ``a + b*n + c*n^2`` (``sglang-continuum-profile``'s method):
  overlay arms get it as ``--continuum-prefill-profile``, so the cost model prices a
  rebuild at what it costs on this machine, not on the one the preset's default was
  measured on;
- the simulator's step profile (``sglang-continuum-profile-steps``'s method:
  prefill with and without a cached prefix, decode by batch and context), which
  ``sim_fidelity.py`` drives the simulator with;
- the time scale of tool gaps: chosen so that (rebuild of a typical 2,000-token testbed
  context) : (mean tool gap) equals the GPU's (a 40k-token context of Llama-3.1-8B on one
  H100, 2.4 s : the trace's mean gap 1.8 s). The setup's gap cap scales with it.

From the same rebuild time (no measurement of its own), ``host_link`` gives the pace of
host-tier reloads (``sglang_continuum/launcher/testbed_link.py``) at which reload : rebuild
of the reference context equals the GPU's (the simulator's 8B/H100 roofline: 40k tokens
reload over PCIe in 0.16 s, 1 : 15 of the rebuild); unpaced, a reload on the CPU is a
DRAM copy ~10x cheaper than that relative to the rebuild.

A campaign resumed later reuses the file, so all its runs share one calibration.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path

from sglang_continuum.core import PrefillModel
from sglang_continuum.launcher.server import launch
from sglang_continuum.tools import profile_prefill, profile_steps
from sglang_continuum.workload import load

# README ratio table: Llama-3.1-8B on one H100 (roofline profile, sim/profiles/roofline.py)
# rebuilds a 40k-token context in ~2.4 s; the shared trace's mean tool gap is 1.8 s.
GPU_REBUILD_S = 2.4
GPU_MEAN_TOOL_S = 1.8
REF_CONTEXT = 2000          # a typical testbed context (trace x1/16 tokens)
PREFILL_SIZES = (1, 500, 1000, 2000, 3000)
TIME_SCALE_RANGE = (0.1, 2.0)


def mean_gap_s(scaling) -> float:
    programs = load("trace", 0, replace(scaling, time_scale=1.0))
    gaps = [t.gap_s for p in programs for t in p.turns[:-1]]
    return statistics.mean(gaps)


def gpu_reload_to_rebuild(tokens: int = 40_000) -> float:
    """Host-tier reload : rebuild of a `tokens` context on the simulator's 8B/H100 profile."""
    from sglang_continuum.sim.profiles import load_profile

    k = load_profile("llama3.1-8b-h100").coefficients
    return (tokens / k.reload_tokens_per_s) / (k.a + k.b * tokens + k.c * tokens ** 2)


def host_link(cal: dict, preset: str) -> dict:
    """The paced host link for this calibration: bytes/s at which reloading the reference
    context takes gpu_reload_to_rebuild() of its rebuild, and the reload profile (seconds
    per token) the overlay's cost model prices a lapse with under a host tier."""
    from sglang_continuum.server.presets import kv_bytes_per_token

    per_token = kv_bytes_per_token(preset)
    reload_s = cal["rebuild_ref_context_s"] * gpu_reload_to_rebuild()
    rate = per_token * cal["ref_context_tokens"] / reload_s
    return {"bytes_per_s": round(rate), "kv_bytes_per_token": per_token,
            "reload_ref_context_s": reload_s, "gpu_reload_to_rebuild": gpu_reload_to_rebuild(),
            "host_reload": {"a": 0.0, "b": per_token / rate, "c": 0.0,
                            "source": f"paced host link, {rate / 1e6:.0f} MB/s"}}


def time_scale_for(rebuild_s: float, gap_s: float) -> float:
    """The tool-gap scale at which rebuild : mean gap equals the GPU's ratio."""
    ts = rebuild_s / (gap_s * GPU_REBUILD_S / GPU_MEAN_TOOL_S)
    lo, hi = TIME_SCALE_RANGE
    return round(min(hi, max(lo, ts)), 3)


def scaled(setup, time_scale: float):
    """The setup with tool gaps x ``time_scale``; its gap cap (set at scale 1) scales too."""
    s = setup.scaling
    cap = None if s.max_gap_s is None else round(s.max_gap_s * time_scale, 3)
    return replace(setup, scaling=replace(s, time_scale=time_scale, max_gap_s=cap))


def calibrate(out: Path, setup, preset: str, log_dir: Path, force: bool = False,
              chunk_size: int = 4096) -> dict:
    path = out / "calibration.json"
    if path.exists() and not force:
        cal = json.loads(path.read_text())
        print(f"calibration: reusing {path.name} from {cal['date']} (time scale "
              f"{cal['time_scale']})", flush=True)
        return cal
    flags = ["--model-preset", preset, "--max-total-tokens", str(setup.pool_tokens),
             "--random-seed", "0"]
    load_before = os.getloadavg()
    with launch(flags, log_dir, overlay=False, name="calibration", timeout=900) as server:
        fits = int(setup.pool_tokens * 0.9)  # what one request (or a batch) may hold
        samples = profile_prefill.measure(
            server.url, [n for n in PREFILL_SIZES if n <= fits], repeats=3)
        fit = PrefillModel.fit(samples)
        steps_prefill = profile_steps.measure_prefill(
            server.url, [n for n in profile_steps.PREFILL_SIZES if n <= fits],
            [(n, m) for n, m in profile_steps.EXTEND_GRID if n + m <= fits], repeats=3)
        steps_decode = profile_steps.measure_decode(
            server.url, [(b, c) for b, c in profile_steps.DECODE_GRID
                         if b * (c + 64) <= fits], repeats=2)
    sim = profile_steps.sim_profile(steps_prefill, steps_decode, setup.pool_tokens,
                                    chunk_size, 2048, f"{preset}-measured")
    rebuild = fit.seconds(REF_CONTEXT)
    gap = mean_gap_s(setup.scaling)
    cal = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "preset": preset,
           "machine": f"{os.cpu_count()} cores, {_cpu_model()}",
           "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
           "prefill_profile": {**fit.to_dict(), "samples": samples,
                               "source": f"stock {preset} server, calibration"},
           "rebuild_ref_context_s": rebuild, "ref_context_tokens": REF_CONTEXT,
           "mean_gap_at_scale_1_s": gap,
           "gpu_rebuild_to_tool": GPU_REBUILD_S / GPU_MEAN_TOOL_S,
           "time_scale": time_scale_for(rebuild, gap),
           "decode_step_batch1_s": sim["decode"]["d0"] + sim["decode"]["d1"]
           + sim["decode"]["d2"] * REF_CONTEXT,
           "sim_profile": sim}
    path.write_text(json.dumps(cal, indent=1))
    (out / "prefill-profile.json").write_text(json.dumps(cal["prefill_profile"], indent=1))
    print(f"calibration: rebuild of {REF_CONTEXT} tokens {rebuild:.3f} s, mean gap at "
          f"scale 1 {gap:.2f} s -> time scale {cal['time_scale']} -> {path.name}", flush=True)
    return cal


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
