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

    def __call__(self, input_ids, max_new_tokens, custom_params,
                 session_id: str | None = None) -> Reply:
        sp = {"max_new_tokens": int(max_new_tokens), "ignore_eos": True, "temperature": 0.0}
        if custom_params:
            sp["custom_params"] = custom_params
        body = {"input_ids": list(input_ids), "sampling_params": sp, "stream": True}
        if session_id is not None:
            body["session_id"] = session_id
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


class RadixSessionSender:
    """Stock SGLang's radix-native sessions (``--enable-session-radix-cache``), run the
    way they are meant to be: one session per program, opened (``/open_session``) before
    its first call, every call carrying the top-level ``session_id``, closed
    (``/close_session``) after its last turn. The program id is the session id."""

    def __init__(self, inner: HttpSender, base_url: str):
        self.inner = inner
        self.base = base_url.rstrip("/")
        self.timeout = inner.timeout
        self._open: set[str] = set()

    def _post(self, route: str, body: dict) -> None:
        r = requests.post(f"{self.base}/{route}", json=body, timeout=self.timeout)
        if r.status_code != 200:
            raise SendError(f"HTTP {r.status_code} from /{route}: {r.text[:300]}")

    def __call__(self, input_ids, max_new_tokens, custom_params) -> Reply:
        sid = (custom_params or {}).get("program_id")
        if sid is None:
            return self.inner(input_ids, max_new_tokens, custom_params)
        if sid not in self._open:
            self._post("open_session", {"session_id": sid, "capacity_of_str_len": 1 << 24})
            self._open.add(sid)
        reply = self.inner(input_ids, max_new_tokens, custom_params, session_id=sid)
        if custom_params.get("last_turn"):
            self._open.discard(sid)
            self._post("close_session", {"session_id": sid})
        return reply


class PlainAgentSender:
    """An agent that sends no identity at all (the plain OpenAI-SDK loop): no program id,
    no ``last_turn``, no tool name. Only the resent context can tell the server which
    program a call continues (``--continuum-infer-programs on``)."""

    def __init__(self, inner: HttpSender):
        self.inner = inner

    def __call__(self, input_ids, max_new_tokens, custom_params) -> Reply:
        return self.inner(input_ids, max_new_tokens, None)
