"""The embedded default model: a tiny random-weight Llama with a real tokenizer.

Served with ``--load-format dummy``: output text is noise, but token counts, timings
and the KV cache behave as with real weights. Built once into a cache folder (a second
or two: a byte-level BPE is trained on a fixed corpus), never downloaded. Larger shapes
with the same tokenizer (``server/presets.py``) are built by the same code.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
VOCAB_SIZE = 2048
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n"
    "{{ m['content'] if m['content'] is string else '' }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL_TOKENS = ["<s>", "</s>", "<unk>", "<|end|>", "<|system|>", "<|user|>",
                  "<|assistant|>", "<|tool|>"]


# The tiny model's shape; a preset overrides some of these keys of config.json.
TINY_SHAPE = {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 4,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64}


def cache_root() -> Path:
    root = os.environ.get("SGLANG_CONTINUUM_CACHE") or Path.home() / ".cache" / "sglang-continuum"
    return Path(root)


def default_dir() -> Path:
    return cache_root() / f"tiny-llama-v{FORMAT_VERSION}"


def _corpus() -> list[str]:
    words = ("def class return import from self None True False if else for while in "
             "with as try except raise pass lambda yield async await assert the a to of "
             "and is that it on was he for are as with his they at be this have from or "
             "one had by word but not what all were we when your can said there use an "
             "each which she do how their time if will way about many then them write "
             "would like so these her long make thing see him two has look more day "
             "could go come did number sound no most people my over know water than "
             "call first who may down side been now find any new work part take get "
             "place made live where after back little only round man year came show "
             "pytest grep ls cat cd git diff python bash sed find echo tests src README "
             "error Traceback assert passed failed ok File line json name arguments").split()
    lines = []
    for i in range(4000):
        a, b, c = words[i % len(words)], words[(i * 7) % len(words)], words[(i * 13) % len(words)]
        lines.append(f"{a} {b}({c}, {i}) = {c}.{a}_{b}[{i % 97}] # {b} {a}\n")
    lines.append("".join(chr(i) for i in range(32, 127)))
    return lines


def build(path: Path, shape: dict | None = None) -> Path:
    """Write tokenizer and config.json (the tiny shape, ``shape`` keys overriding)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="</s>",
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(path))
    vocab = tok.get_vocab_size()
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        **TINY_SHAPE, **(shape or {}),
        "vocab_size": vocab, "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
        "bos_token_id": tok.token_to_id("<s>"), "eos_token_id": tok.token_to_id("</s>"),
        "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    }
    (path / "config.json").write_text(json.dumps(config, indent=2))
    (path / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": config["bos_token_id"], "eos_token_id": config["eos_token_id"]}))
    (path / "READY").write_text(str(FORMAT_VERSION))
    logger.info("Built a dummy model at %s (vocab %d)", path, vocab)
    return path


def ensure(path: Path | None = None, shape: dict | None = None) -> Path:
    """Return the model's folder (default: the tiny model's), building it first if absent."""
    path = Path(path) if path else default_dir()
    if not (path / "READY").exists():
        build(path, shape)
    return path


if __name__ == "__main__":
    print(ensure())
