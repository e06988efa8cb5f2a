"""Minimal native-API client used by tests and examples: token ids in, token ids out."""

from __future__ import annotations

import random

import requests

from sglang_continuum.connect.fields import custom_params


def program_fields(program: str | None, last: bool = False, ttl: str | float | None = None,
                   tool: str | None = None) -> dict:
    """The overlay's request fields, as they ride in SGLang's ``custom_params``
    (``{}`` for a stock request); checked as ``connect.fields.custom_params`` does."""
    if program is None:
        return {}
    return custom_params(program, last_turn=last, tool=tool, ttl=ttl)


def generate(url: str, ids: list[int], max_new: int, program: str | None = None,
             last: bool = False, ttl=None, tool=None, timeout: float = 300, **extra) -> dict:
    sp = {"max_new_tokens": max_new, "ignore_eos": True, "temperature": 0.0}
    custom = program_fields(program, last, ttl, tool)
    if custom:
        sp["custom_params"] = custom
    r = requests.post(f"{url}/generate", json={"input_ids": ids, "sampling_params": sp, **extra},
                      timeout=timeout)
    r.raise_for_status()
    return r.json()


def random_ids(n: int, seed: int, vocab: int = 2000, low: int = 10) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(low, vocab) for _ in range(n)]


def generate_stream(url: str, ids: list[int], max_new: int, started=None,
                    program: str | None = None, timeout: float = 600, **extra) -> dict:
    """``generate`` with ``stream: true``: sets the ``started`` event (a
    ``threading.Event``) when the first token arrives, i.e. once the request is past
    prefill and running, then returns the last chunk (its ``meta_info`` holds the
    finish reason). Tests use it to know a request is running, without guessing."""
    from sglang_continuum.connect.sse import sse_chunks

    sp = {"max_new_tokens": max_new, "ignore_eos": True, "temperature": 0.0}
    if program is not None:
        sp["custom_params"] = program_fields(program)
    body = {"input_ids": ids, "sampling_params": sp, "stream": True, **extra}
    last = None
    with requests.post(f"{url}/generate", json=body, stream=True, timeout=timeout) as r:
        r.raise_for_status()
        for last in sse_chunks(r.iter_lines()):
            if started is not None:
                started.set()
    if last is None:
        raise RuntimeError("the stream ended without a chunk")
    return last
