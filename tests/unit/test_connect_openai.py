"""ProgramSession against a fake openai client: what each call sends, what it reports."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from sglang_continuum.connect.openai_agent import ProgramSession, continuum_extra_body
from sglang_continuum.core.hints import HintError


class FakeCompletions:
    def __init__(self, replies):
        self.replies, self.calls = list(replies), []

    def create(self, **kwargs):
        self.calls.append(kwargs)
        return self.replies.pop(0)


def reply(content="", tools=(), cached=None, prompt=100):
    calls = [NS(id=f"c{i}", type="function", function=NS(name=n, arguments="{}"))
             for i, n in enumerate(tools)]
    details = NS(cached_tokens=cached) if cached is not None else None
    return NS(choices=[NS(message=NS(content=content, tool_calls=calls or None))],
              usage=NS(prompt_tokens=prompt, completion_tokens=3,
                       prompt_tokens_details=details))


def client(*replies):
    completions = FakeCompletions(replies)
    return NS(chat=NS(completions=completions)), completions


def test_each_call_carries_the_program_and_the_last_turn():
    fake, completions = client(reply(tools=["bash", "read_file"], cached=0),
                               reply(content="done", cached=95, prompt=120))
    session = ProgramSession(fake, "swe-3", ttl="30s")
    tools = [{"type": "function", "function": {"name": "bash", "parameters": {}}}]
    first = session.chat([{"role": "user", "content": "hi"}], tools=tools,
                         tool_hint="bash", extra_body={"top_k": 5}, max_tokens=8)
    second = session.chat([{"role": "user", "content": "hi"}], last_turn=True)
    a, b = completions.calls
    assert a["extra_body"] == {"top_k": 5, "custom_params": {
        "program_id": "swe-3", "last_turn": False, "tool": "bash",
        "cache_control": {"type": "ephemeral", "ttl": "30s"}}}
    assert a["tools"] == tools and a["max_tokens"] == 8 and a["model"] == "default"
    assert b["extra_body"] == {"custom_params": {"program_id": "swe-3", "last_turn": True}}
    assert "tools" not in b
    assert a["extra_headers"] == b["extra_headers"] == {"X-SMG-Routing-Key": "swe-3"}
    assert first.tool_names == ("bash", "read_file") and second.tool_names == ()
    assert (second.content, second.cached_tokens, second.prompt_tokens) == ("done", 95, 120)
    assert session.ended and [t.last_turn for t in session.turns] == [False, True]
    with pytest.raises(RuntimeError, match="last turn"):
        session.chat([{"role": "user", "content": "again"}])


def test_per_call_ttl_and_no_routing_header():
    fake, completions = client(reply())
    session = ProgramSession(fake, "p", ttl="30s", routing_header=False)
    turn = session.chat([], ttl=2.5)
    assert completions.calls[0]["extra_body"]["custom_params"]["cache_control"]["ttl"] == 2.5
    assert completions.calls[0]["extra_headers"] == {}
    assert turn.cached_tokens == 0  # server without --enable-cache-report


def test_recipe_and_validation():
    assert continuum_extra_body("p", ttl="5m") == {"custom_params": {
        "program_id": "p", "last_turn": False,
        "cache_control": {"type": "ephemeral", "ttl": "5m"}}}
    with pytest.raises(HintError, match="program_id"):
        ProgramSession(NS(), "")
    with pytest.raises(HintError, match="tool"):
        continuum_extra_body("p", tool="two words")
    fake, completions = client(reply())
    with pytest.raises(HintError, match="cache_control.ttl"):
        ProgramSession(fake, "p").chat([], ttl="soon")
    assert completions.calls == []  # rejected before any request
