"""Model presets: dummy-weight Llama shapes the launcher builds locally (no download).

``tiny`` is the default (fast tests). ``testbed-100m`` is the live testbed: about
100M parameters, whose prefill on two CPU cores costs about what a long agent context
costs on a GPU relative to its tool gaps and turn time (``experiments/live/``). Every
preset shares the tiny model's tokenizer; only ``config.json``'s shape differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sglang_continuum.server import tiny_model


@dataclass(frozen=True)
class ModelPreset:
    name: str
    summary: str
    # Keys of config.json that differ from the tiny model's shape.
    shape: dict = field(default_factory=dict)
    # SGLang flags this preset sets unless the user passes them.
    server_defaults: dict = field(default_factory=dict)
    # The overlay's PrefillReload fit (a, b, c) for this model on the CPU, used unless
    # the user gives one (prefill_profile in --continuum-config): the cost
    # model must price a rebuild at what it costs on this server.
    prefill_profile: dict | None = None

    def folder(self) -> Path:
        if not self.shape:
            return tiny_model.default_dir()
        return tiny_model.cache_root() / f"{self.name}-v{tiny_model.FORMAT_VERSION}"

    def ensure(self) -> Path:
        return tiny_model.ensure(self.folder(), self.shape or None)

    def parameters(self) -> int:
        """Weights of the shape (embeddings and LM head untied), for the docs and tests."""
        s = {**tiny_model.TINY_SHAPE, **self.shape}
        h, inter, head = s["hidden_size"], s["intermediate_size"], s["head_dim"]
        q, kv = s["num_attention_heads"] * head, s["num_key_value_heads"] * head
        per_layer = h * q + 2 * h * kv + q * h + 3 * h * inter + 2 * h
        return s["num_hidden_layers"] * per_layer + 2 * tiny_model.VOCAB_SIZE * h + h


PRESETS = {
    p.name: p for p in (
        ModelPreset("tiny", "4 layers, hidden 256 (~4M parameters): the default, for tests"),
        ModelPreset(
            "testbed-100m",
            "8 layers, hidden 1024, 16 heads, 4 KV heads, bf16 (~94M parameters): "
            "the live testbed with a GPU's economics",
            shape={"hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 8,
                   "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 64},
            # 6,000 tokens: three 2,000-token contexts; the contended load overfills it
            # about 2x (see experiments/live/ratios.md). A larger pool also slows every
            # torch_native step on the CPU.
            # The watchdog kills the server when one forward passes 300 s: a 3,000-token
            # prefill of this model on a loaded 2-core machine was seen to.
            server_defaults={"--max-total-tokens": "6000", "--watchdog-timeout": "3600"},
            # `sglang-continuum-profile` on this preset, 2-core AMD EPYC, quiet
            # machine (cold prefill; patch 0010 does not change it).
            prefill_profile={"a": 0.0, "b": 5.8e-4, "c": 1.1e-7},
        ),
    )
}
DEFAULT = "tiny"


def kv_bytes_per_token(name: str) -> int:
    """KV cache bytes one token takes in the preset's model (K and V, every layer, bf16)."""
    s = {**tiny_model.TINY_SHAPE, **get(name).shape}
    return s["num_hidden_layers"] * s["num_key_value_heads"] * s["head_dim"] * 2 * 2


def get(name: str) -> ModelPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"--model-preset {name!r}: unknown; accepted: "
                         f"{', '.join(sorted(PRESETS))}") from None
