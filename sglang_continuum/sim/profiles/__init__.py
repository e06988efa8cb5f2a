"""Engine profiles: step-time coefficients + KV capacity + batching limits.

Built-ins: ``llama3.1-8b-h100`` and ``llama3.1-70b-4xh100`` (roofline estimates from
public specs, see :mod:`.roofline`), and ``cpu_tiny`` (measured on the real CPU server
with the tiny model, ``--max-total-tokens 6000``; the JSON says how, where and when).
``load_profile(path)`` accepts a measured fit as JSON::

    {"name": "...", "prefill": {"a": .., "b": .., "c": ..},
     "decode": {"d0": .., "d1": .., "d2": ..}, "kv_capacity_tokens": N,
     "chunk_size": 8192, "max_running": 256}

(prefill seconds = a + b*n + c*n*(2m+n) + e*m for n new tokens on m cached, ``e``
optional; decode step seconds = d0 + d1*batch + d2*context).
The ``prefill`` object may be the file ``python -m sglang_continuum.tools.profile_prefill`` writes
(extra keys are ignored); ``python -m sglang_continuum.tools.profile_steps`` measures and
writes the whole file (prefill with the prefix term, decode, KV capacity).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..predictor import LinearPredictor, StepCoefficients
from .roofline import H100_SXM, LLAMA31_70B, LLAMA31_8B, Deployment, coefficients, kv_capacity_tokens


@dataclass(frozen=True)
class Profile:
    name: str
    coefficients: StepCoefficients
    kv_capacity_tokens: int
    chunk_size: int = 8192
    max_running: int = 256
    placeholder: bool = False
    sources: tuple[str, ...] = field(default=())

    def __post_init__(self):
        for name in ("kv_capacity_tokens", "chunk_size", "max_running"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"Profile.{name}={v!r}: must be an int > 0")

    def predictor(self) -> LinearPredictor:
        return LinearPredictor(self.coefficients)


def _gpu_profile(name: str, d: Deployment, chunk: int, max_running: int) -> Profile:
    return Profile(name, coefficients(d), kv_capacity_tokens(d), chunk, max_running, False, (
        "Llama 3.1 config.json (layers, hidden, KV heads); NVIDIA H100 SXM datasheet "
        "(80 GB, 3.35 TB/s, 989 TFLOPS bf16 dense)",
        f"roofline: mfu={d.mfu}, attn_mfu={d.attn_mfu}, hbm_eff={d.hbm_efficiency}, "
        f"mem_fraction_static={d.mem_fraction_static}, tp={d.tp}",
        "SGLang defaults: chunked_prefill_size 8192 on 80 GB GPUs",
    ))


def _builtin(name: str) -> Profile:
    if name == "llama3.1-8b-h100":
        return _gpu_profile(name, Deployment(LLAMA31_8B, H100_SXM, tp=1), 8192, 256)
    if name == "llama3.1-70b-4xh100":
        d = Deployment(LLAMA31_70B, H100_SXM, tp=4, mfu=0.45, tp_overhead_s=0.002)
        return _gpu_profile(name, d, 8192, 256)
    return from_json(json.loads((resources.files(__package__) / f"{name}.json").read_text()))


BUILTIN = ("llama3.1-8b-h100", "llama3.1-70b-4xh100", "cpu_tiny")


def from_json(data: dict) -> Profile:
    """Profile from a measured-fit dict (format in the module docstring)."""
    try:
        p, d = data["prefill"], data["decode"]
        k = StepCoefficients(p["a"], p["b"], p["c"], d["d0"], d["d1"], d["d2"],
                             data.get("reload_tokens_per_s", float("inf")), p.get("e", 0.0))
        return Profile(data.get("name", "measured"), k, int(data["kv_capacity_tokens"]),
                       int(data.get("chunk_size", 8192)), int(data.get("max_running", 256)),
                       bool(data.get("placeholder", False)), tuple(data.get("sources", ())))
    except KeyError as e:
        raise ValueError(f"profile JSON lacks {e}; needs prefill{{a,b,c}}, "
                         "decode{d0,d1,d2}, kv_capacity_tokens") from None


def load_profile(name_or_path: str) -> Profile:
    """A built-in name (see ``BUILTIN``) or a path to a measured-fit JSON."""
    if name_or_path in BUILTIN:
        return _builtin(name_or_path)
    path = Path(name_or_path)
    if path.suffix == ".json" and path.exists():
        return from_json(json.loads(path.read_text()))
    raise ValueError(f"unknown profile {name_or_path!r}: use one of {', '.join(BUILTIN)} "
                     "or a path to a measured-fit .json")
