"""Continuum for agents written in SGLang's frontend language (``@sgl.function``).

One line gives a program its identity::

    backend = ContinuumEndpoint("http://127.0.0.1:30000", ttl="30s")
    with agent_program("task-17") as prog:
        state = my_agent.run(task=..., backend=backend)

Every ``sgl.gen`` of ``my_agent`` then carries ``custom_params.program_id`` (and the
``X-SMG-Routing-Key`` header, for sglang-router). Inside the function,
``last_turn(s)`` marks the next ``sgl.gen`` as the program's last call, and
``next_tool(s, name)`` hints which tool the next call's output invokes.

Why they take ``s``: the function body runs ahead of SGLang's worker thread (``s +=
sgl.gen(...)`` only queues the call), so a mark set without waiting could land on a
call queued before it. Both wait for the queued calls first (``s.sync()``).

How it reaches the request: SGLang runs each ``run()`` in a worker thread started
under ``contextvars.copy_context()`` (sglang 0.5.23, ``lang/interpreter.py``), so the
program entered in the caller's thread is the one that thread's ``sgl.gen`` calls
see. ``run_batch`` uses a plain thread pool and does not copy the context: enter
``agent_program`` inside your own threads instead. With ``run(stream=True)`` the
calls carry the program, but the function body runs in a thread without the context,
so ``last_turn(s)`` there does nothing: end such programs from the caller with
``prog.last_turn()`` before the final streamed call. ``select``/``choices`` calls stay
stock requests (no program fields): they are scoring passes, not turns.
"""

from __future__ import annotations

import threading
import uuid
from contextvars import ContextVar, Token
from dataclasses import dataclass, field

import requests
from sglang.lang.backend.runtime_endpoint import RuntimeEndpoint
from sglang.lang.global_config import global_config
from sglang.lang.interpreter import StreamExecutor
from sglang.lang.ir import SglSamplingParams

from sglang_continuum.connect.fields import Ttl, custom_params, routing_headers
from sglang_continuum.connect.sse import sse_chunks

_CURRENT: ContextVar["AgentProgram | None"] = ContextVar("continuum_program", default=None)
_LOGPROB_FIELDS = ("return_logprob", "logprob_start_len", "top_logprobs_num",
                   "return_text_in_logprobs")


@dataclass(frozen=True)
class Turn:
    """What the server reported for one call of a program."""

    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    last_turn: bool
    tool: str | None


@dataclass(eq=False)
class AgentProgram:
    """One agent program: its id, its default TTL, and the turns it made so far.

    Thread-safe: the agent's thread marks hints, SGLang's worker thread consumes them.
    A hint applies to the next call *sent* after it is set: from a frontend function
    use the module's ``last_turn(s)`` / ``next_tool(s, name)``, which wait for the
    calls already queued.
    """

    program_id: str
    ttl: Ttl = None
    turns: list[Turn] = field(default_factory=list)
    _last: bool = field(default=False, init=False)
    _tool: str | None = field(default=None, init=False)
    _ended: bool = field(default=False, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _token: Token | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        custom_params(self.program_id, ttl=self.ttl)  # reject bad ids/TTLs here

    def last_turn(self) -> None:
        """The next call ends the program: the server releases its lock, sets none."""
        with self._lock:
            self._last = True

    def next_tool(self, name: str) -> None:
        """Hint the tool the next call's output will invoke (per-tool TTL statistics)."""
        custom_params(self.program_id, tool=name)
        with self._lock:
            self._tool = name

    @property
    def ended(self) -> bool:
        return self._ended

    def take_fields(self, default_ttl: Ttl = None) -> dict:
        """``custom_params`` for the call about to be sent; consumes one-shot hints.

        ``default_ttl`` applies when the program set no TTL of its own."""
        ttl = self.ttl if self.ttl is not None else default_ttl
        with self._lock:
            if self._ended:
                raise RuntimeError(f"program {self.program_id!r} already made its last turn")
            fields = custom_params(self.program_id, last_turn=self._last, tool=self._tool,
                                   ttl=None if self._last else ttl)
            self._tool = None
            self._ended = self._last
            return fields

    def record(self, fields: dict, meta_info: dict) -> None:
        turn = Turn(int(meta_info.get("prompt_tokens", 0)),
                    int(meta_info.get("cached_tokens", 0)),
                    int(meta_info.get("completion_tokens", 0)),
                    bool(fields["last_turn"]), fields.get("tool"))
        with self._lock:
            self.turns.append(turn)

    def __enter__(self) -> "AgentProgram":
        self._token = _CURRENT.set(self)
        return self

    def __exit__(self, *exc) -> None:
        _CURRENT.reset(self._token)
        self._token = None


def agent_program(program_id: str | None = None, ttl: Ttl = None) -> AgentProgram:
    """A program context; ``program_id`` defaults to a fresh random id."""
    return AgentProgram(program_id or f"prog-{uuid.uuid4().hex[:12]}", ttl)


def current_program() -> AgentProgram | None:
    """The program entered in this context, or None (calls are then stock requests)."""
    return _CURRENT.get()


def last_turn(s) -> None:
    """Inside an ``@sgl.function``: the next ``sgl.gen`` of ``s`` ends the program.

    Outside ``agent_program`` it does nothing, so one agent runs on stock SGLang too."""
    program = _CURRENT.get()
    if program is not None:
        s.sync()
        program.last_turn()


def next_tool(s, name: str) -> None:
    """Inside an ``@sgl.function``: the next ``sgl.gen``'s output will invoke ``name``."""
    program = _CURRENT.get()
    if program is not None:
        s.sync()
        program.next_tool(name)


class ContinuumEndpoint(RuntimeEndpoint):
    """``sgl.RuntimeEndpoint`` that tags each ``sgl.gen`` with the current program.

    ``ttl`` is the default lock TTL of programs that set none (None: the server's
    policy decides). Outside ``agent_program`` it behaves exactly as its base class.
    """

    def __init__(self, base_url: str, *, ttl: Ttl = None, **kwargs) -> None:
        super().__init__(base_url, **kwargs)
        self.default_ttl = ttl
        self._http = requests.Session()

    def generate(self, s: StreamExecutor, sampling_params: SglSamplingParams):
        program = current_program()
        if program is None:
            return super().generate(s, sampling_params)
        fields = program.take_fields(self.default_ttl)
        obj = self._post(program, self._payload(s, sampling_params, fields)).json()
        program.record(fields, obj["meta_info"])
        return obj["text"], obj["meta_info"]

    def generate_stream(self, s: StreamExecutor, sampling_params: SglSamplingParams):
        program = current_program()
        if program is None:
            yield from super().generate_stream(s, sampling_params)
            return
        fields = program.take_fields(self.default_ttl)
        data = {**self._payload(s, sampling_params, fields), "stream": True}
        pos, meta_info = 0, {}
        with self._post(program, data, stream=True) as res:
            for chunk in sse_chunks(res.iter_lines(decode_unicode=False)):
                text, meta_info = chunk["text"][pos:], chunk["meta_info"]
                pos += len(text)
                yield text, meta_info
        program.record(fields, meta_info)

    def _payload(self, s: StreamExecutor, sampling_params: SglSamplingParams,
                 fields: dict) -> dict:
        # Same body as RuntimeEndpoint.generate (sglang 0.5.23) plus custom_params.
        self._handle_dtype_to_regex(sampling_params)
        data = {"text": s.text_, "sampling_params": {
            "skip_special_tokens": global_config.skip_special_tokens_in_output,
            "spaces_between_special_tokens":
                global_config.spaces_between_special_tokens_in_out,
            **sampling_params.to_srt_kwargs(),
            "custom_params": fields,
        }}
        for name in _LOGPROB_FIELDS:
            value = getattr(sampling_params, name, None)
            if value is not None:
                data[name] = value
        self._add_images(s, data)
        return data

    def _post(self, program: AgentProgram, data: dict, stream: bool = False):
        headers = routing_headers(program.program_id)
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key}"
        res = self._http.post(f"{self.base_url}/generate", json=data, headers=headers,
                              stream=stream,
                              verify=True if self.verify is None else self.verify)
        self._assert_success(res)
        return res
