"""One LLM call against any SGLang server: native ``/generate`` with token ids, streamed
(SSE) so the time to first token is the client's own measurement."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import requests

from ..connect.sse import sse_chunks


@dataclass(frozen=True)
class Reply:
    output_ids: tuple[int, ...]
    ttft_s: float   # request sent -> first chunk carrying output tokens
    meta: dict = field(default_factory=dict)  # the server's final meta_info


class Sender(Protocol):
    def __call__(self, input_ids: Sequence[int], max_new_tokens: int,
                 custom_params: dict | None) -> Reply:
        """Run one call with a fixed output length; raise on any failure."""


class SendError(RuntimeError):
    pass


def _merge(ids: list[int], chunk_ids: list[int], completion_tokens) -> list[int]:
    # SGLang streams cumulative ids by default, increments with --incremental-streaming-output
    if isinstance(completion_tokens, int) and len(chunk_ids) == completion_tokens:
        return list(chunk_ids)
    return ids + list(chunk_ids)


class HttpSender:
    def __init__(self, url: str, timeout: float = 1800.0,
                 clock: Callable[[], float] = time.perf_counter):
        self.url = url.rstrip("/") + "/generate"
        self.timeout = timeout
        self.clock = clock

    def __call__(self, input_ids, max_new_tokens, custom_params) -> Reply:
        sp = {"max_new_tokens": int(max_new_tokens), "ignore_eos": True, "temperature": 0.0}
        if custom_params:
            sp["custom_params"] = custom_params
        body = {"input_ids": list(input_ids), "sampling_params": sp, "stream": True}
        start = self.clock()
        ttft, ids, meta = None, [], {}
        with requests.post(self.url, json=body, stream=True, timeout=self.timeout) as r:
            if r.status_code != 200:
                raise SendError(f"HTTP {r.status_code} from {self.url}: {r.text[:500]}")
            for chunk in sse_chunks(r.iter_lines()):
                if "error" in chunk:
                    raise SendError(f"server error: {chunk['error']}")
                meta = chunk.get("meta_info", meta)
                chunk_ids = chunk.get("output_ids") or []
                if chunk_ids and ttft is None:
                    ttft = self.clock() - start
                ids = _merge(ids, chunk_ids, meta.get("completion_tokens"))
        if not meta:
            raise SendError(f"no response chunk from {self.url}")
        return Reply(tuple(ids), ttft if ttft is not None else self.clock() - start, meta)
