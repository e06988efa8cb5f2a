"""Roofline estimates of step-time coefficients and KV capacity from public specs.

Assumptions (stated once, used by every built-in GPU profile):
- Linear layers: 2 * params FLOPs per token at ``mfu`` of peak dense bf16.
- Causal attention: 4 * layers * hidden FLOPs per (query, key) pair; a chunk of n new
  tokens over m cached ones has about n*(2m+n)/2 pairs, so c = 2*layers*hidden/(peak*attn_mfu)
  multiplies n*(2m+n).
- Decode is memory bound: every step reads all weights (d0) and each request's KV (d2)
  at ``hbm_efficiency`` of peak HBM bandwidth; d1 is the per-request compute.
- Host tier reloads at ``host_efficiency`` of PCIe Gen5 x16 (64 GB/s) per GPU.
- KV capacity = (GPU memory * mem_fraction_static - weights - activations) / KV bytes per
  token, summed over the tensor-parallel GPUs (each holds kv_heads/tp heads).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..predictor import StepCoefficients


@dataclass(frozen=True)
class ModelSpec:
    name: str
    params: float          # parameters
    layers: int
    hidden: int
    kv_heads: int
    head_dim: int
    bytes_per_param: int = 2  # bf16

    def kv_bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * self.bytes_per_param


@dataclass(frozen=True)
class GPUSpec:
    name: str
    memory_bytes: float
    bf16_flops: float      # dense peak
    hbm_bytes_per_s: float
    host_bytes_per_s: float = 64e9  # PCIe Gen5 x16 peak, host tier reloads


@dataclass(frozen=True)
class Deployment:
    model: ModelSpec
    gpu: GPUSpec
    tp: int = 1
    mfu: float = 0.5               # linear layers, large prefill batches
    attn_mfu: float = 0.4          # FlashAttention-class kernels on long contexts
    hbm_efficiency: float = 0.8
    mem_fraction_static: float = 0.88  # SGLang's default share for weights + KV
    activation_bytes: float = 4e9      # per GPU: activations, CUDA graphs
    fixed_overhead_s: float = 0.003    # per step: launch, sampling, scheduling
    tp_overhead_s: float = 0.0         # per step all-reduce latency floor
    host_efficiency: float = 0.5       # achieved share of PCIe peak for KV reloads


def coefficients(d: Deployment) -> StepCoefficients:
    m, g = d.model, d.gpu
    peak = g.bf16_flops * d.tp
    weights_per_gpu = m.params * m.bytes_per_param / d.tp
    kv_per_gpu = m.kv_bytes_per_token() / d.tp
    bw = g.hbm_bytes_per_s * d.hbm_efficiency
    return StepCoefficients(
        a=d.fixed_overhead_s + d.tp_overhead_s,
        b=2 * m.params / (peak * d.mfu),
        c=2 * m.layers * m.hidden / (peak * d.attn_mfu),
        d0=weights_per_gpu / bw + d.fixed_overhead_s + d.tp_overhead_s,
        d1=2 * m.params / (peak * d.mfu),
        d2=kv_per_gpu / bw,
        reload_tokens_per_s=g.host_bytes_per_s * d.host_efficiency / kv_per_gpu,
    )


def kv_capacity_tokens(d: Deployment) -> int:
    m, g = d.model, d.gpu
    per_gpu = (g.memory_bytes * d.mem_fraction_static
               - m.params * m.bytes_per_param / d.tp - d.activation_bytes)
    if per_gpu <= 0:
        raise ValueError(f"{m.name} does not fit on {d.tp} x {g.name}")
    return int(per_gpu / (m.kv_bytes_per_token() / d.tp))


# Public specs. Llama 3.1 model cards / config.json (meta-llama/Llama-3.1-8B, -70B):
# 8B: 32 layers, hidden 4096, 8 KV heads x 128; 70B: 80 layers, hidden 8192, 8 KV heads.
LLAMA31_8B = ModelSpec("llama3.1-8b", 8.03e9, 32, 4096, 8, 128)
LLAMA31_70B = ModelSpec("llama3.1-70b", 70.6e9, 80, 8192, 8, 128)
# NVIDIA H100 SXM datasheet: 80 GB HBM3, 3.35 TB/s, 989 TFLOPS dense bf16.
H100_SXM = GPUSpec("h100-sxm", 80e9, 989e12, 3.35e12)
