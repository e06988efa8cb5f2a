"""The server a campaign starts for itself, and the limits read from any server."""

from __future__ import annotations

import requests

from sglang_continuum.fuzz.values import Limits

# A context longer than the pool, so prompts can overflow either; short TTLs, so the
# locks fuzz cases take lapse soon after the campaign.
SERVER_ARGS = ["--max-total-tokens", "8192", "--context-length", "16384",
               "--random-seed", "0", "--continuum-max-ttl", "3",
               "--continuum-status-interval", "0"]
# Accepted requests decode at most this many tokens: absurd-but-valid max_new_tokens
# (and OpenAI requests without max_tokens) stay cheap on a CPU. Rejection of values
# past the context length happens before the cap and is still exercised.
SERVER_ENV = {"SGLANG_MAX_NEW_TOKENS_LIMIT": "64"}


def limits_of(url: str, vocab: int) -> Limits:
    info = requests.get(f"{url}/server_info", timeout=30).json()
    pool = info.get("max_total_num_tokens") or info["max_total_tokens"]
    return Limits(vocab=vocab, context=int(info["context_length"]), pool=int(pool))
