"""Continuum for agents built on the ``openai`` Python client.

The recipe, without this module: pass the overlay's fields in ``extra_body``::

    client.chat.completions.create(
        model="default", messages=messages,
        extra_body={"custom_params": {"program_id": "task-17", "last_turn": False,
                                      "cache_control": {"type": "ephemeral", "ttl": "30s"}}},
        extra_headers={"X-SMG-Routing-Key": "task-17"},  # only needed behind sglang-router
    )

``ProgramSession`` does that for every call of one program and keeps what the server
reported (cached tokens, the tools the model called)::

    session = ProgramSession(client, "task-17", ttl="30s")
    turn = session.chat(messages, tools=TOOLS)
    ...
    session.chat(messages, last_turn=True)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sglang_continuum.connect.fields import Ttl, custom_params, routing_headers


def continuum_extra_body(program_id: str, *, last_turn: bool = False,
                         tool: str | None = None, ttl: Ttl = None) -> dict:
    """``extra_body`` for one chat/completions call of a program."""
    return {"custom_params": custom_params(program_id, last_turn=last_turn, tool=tool,
                                           ttl=ttl)}


@dataclass(frozen=True)
class ChatTurn:
    """One call of a program: the SDK's response plus what Continuum cares about."""

    response: Any  # openai.types.chat.ChatCompletion
    content: str
    tool_names: tuple[str, ...]  # functions the model called, in order
    prompt_tokens: int
    cached_tokens: int  # 0 unless the server runs with --enable-cache-report
    completion_tokens: int
    last_turn: bool


@dataclass
class ProgramSession:
    """The calls of one agent program through an ``openai.OpenAI`` client.

    ``ttl`` is the lock TTL asked for after each call (None: the server's policy
    decides). ``routing_header`` adds ``X-SMG-Routing-Key: <program_id>``, which
    sglang-router's ``manual`` policy pins to one server and which SGLang also reads as
    the program id.
    """

    client: Any
    program_id: str = field(default_factory=lambda: f"prog-{uuid.uuid4().hex[:12]}")
    model: str = "default"
    ttl: Ttl = None
    routing_header: bool = True
    turns: list[ChatTurn] = field(default_factory=list)

    def __post_init__(self) -> None:
        custom_params(self.program_id, ttl=self.ttl)

    @property
    def ended(self) -> bool:
        return bool(self.turns) and self.turns[-1].last_turn

    def chat(self, messages: list[dict], *, tools: list[dict] | None = None,
             last_turn: bool = False, tool_hint: str | None = None, ttl: Ttl = None,
             **kwargs) -> ChatTurn:
        """One ``chat.completions.create`` call of the program.

        ``tool_hint`` names the tool this call's output will invoke, when the agent
        knows it beforehand; ``ttl`` overrides the session's for this call. Other
        keyword arguments go to the SDK (an ``extra_body`` given there is merged).
        """
        if self.ended:
            raise RuntimeError(f"program {self.program_id!r} already made its last turn")
        fields = custom_params(self.program_id, last_turn=last_turn, tool=tool_hint,
                               ttl=None if last_turn else (ttl if ttl is not None
                                                           else self.ttl))
        extra_body = {**(kwargs.pop("extra_body", None) or {}), "custom_params": fields}
        extra_headers = dict(kwargs.pop("extra_headers", None) or {})
        if self.routing_header:
            extra_headers.update(routing_headers(self.program_id))
        if tools is not None:
            kwargs["tools"] = tools
        response = self.client.chat.completions.create(
            model=self.model, messages=messages, extra_body=extra_body,
            extra_headers=extra_headers, **kwargs)
        turn = _turn(response, last_turn)
        self.turns.append(turn)
        return turn


def _turn(response: Any, last_turn: bool) -> ChatTurn:
    message = response.choices[0].message
    calls = message.tool_calls or []
    usage = response.usage
    details = getattr(usage, "prompt_tokens_details", None) if usage else None
    return ChatTurn(
        response=response, content=message.content or "",
        tool_names=tuple(c.function.name for c in calls if getattr(c, "function", None)),
        prompt_tokens=usage.prompt_tokens if usage else 0,
        cached_tokens=(getattr(details, "cached_tokens", None) or 0) if details else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        last_turn=last_turn,
    )
