"""ContinuumEndpoint against a stub HTTP server: what each sgl.gen puts on the wire."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sglang as sgl

from sglang_continuum.connect.frontend import (ContinuumEndpoint, agent_program,
                                               current_program, last_turn, next_tool)
from sglang_continuum.core.hints import HintError


class _Stub(BaseHTTPRequestHandler):
    seen: list  # (path, headers, body) of every POST

    def do_GET(self):
        self._reply({"model_path": "stub-model"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, dict(self.headers), body))
        n = len(self.seen)
        meta = {"prompt_tokens": 100 * n, "cached_tokens": 90 * n, "completion_tokens": 2}
        if body.get("stream"):
            return self._stream([f" o{n}", f" o{n}ut"], meta)
        self._reply({"text": f" out{n}", "meta_info": meta})

    def _stream(self, texts, meta):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for text in texts:
            self.wfile.write(f"data: {json.dumps({'text': text, 'meta_info': meta})}\n\n"
                             .encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True

    def _reply(self, obj):
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    handler = type("Handler", (_Stub,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen
    server.shutdown()
    server.server_close()


@sgl.function
def three_turns(s, hint_last: bool):
    for i in range(3):
        if i == 2 and hint_last:
            last_turn(s)  # queued gens have not run yet: last_turn must wait for them
        if i == 1:
            next_tool(s, "pytest")
        s += f"step {i}:" + sgl.gen(f"g{i}", max_tokens=2)


def _custom(seen):
    return [body["sampling_params"].get("custom_params") for _, _, body in seen]


def test_every_gen_carries_the_program_and_only_the_last_is_last(stub):
    url, seen = stub
    backend = ContinuumEndpoint(url, ttl="30s")
    with agent_program("agent-7") as prog:
        state = three_turns.run(hint_last=True, backend=backend)
    assert state.error() is None
    custom = _custom(seen)
    ttl = {"type": "ephemeral", "ttl": "30s"}
    assert custom == [
        {"program_id": "agent-7", "last_turn": False, "cache_control": ttl},
        {"program_id": "agent-7", "last_turn": False, "tool": "pytest", "cache_control": ttl},
        {"program_id": "agent-7", "last_turn": True},
    ]
    assert all(headers["X-SMG-Routing-Key"] == "agent-7" for _, headers, _ in seen)
    assert all(path == "/generate" for path, _, _ in seen)
    # the rest of the body is RuntimeEndpoint's: text so far and sampling params
    assert seen[2][2]["text"] == "step 0: out1step 1: out2step 2:"
    assert seen[2][2]["sampling_params"]["max_new_tokens"] == 2
    assert [t.cached_tokens for t in prog.turns] == [90, 180, 270]
    assert prog.ended and current_program() is None


def test_outside_a_program_requests_are_stock_and_hints_do_nothing(stub):
    url, seen = stub
    state = three_turns.run(hint_last=False, backend=ContinuumEndpoint(url))
    assert state.error() is None
    assert _custom(seen) == [None, None, None]
    assert all("X-SMG-Routing-Key" not in headers for _, headers, _ in seen)


def test_program_ttl_wins_over_the_endpoint_default(stub):
    url, seen = stub
    with agent_program("p", ttl=5):
        three_turns.run(hint_last=True, backend=ContinuumEndpoint(url, ttl="30s"))
    assert _custom(seen)[0]["cache_control"] == {"type": "ephemeral", "ttl": 5}


def test_a_call_after_the_last_turn_fails_in_the_agent(stub):
    url, _ = stub

    @sgl.function
    def too_long(s):
        last_turn(s)
        s += "a" + sgl.gen("a", max_tokens=1)
        s += "b" + sgl.gen("b", max_tokens=1)

    with agent_program("p"):
        state = too_long.run(backend=ContinuumEndpoint(url))
    assert "already made its last turn" in str(state.error())


def test_bad_ids_are_rejected_before_any_request():
    with pytest.raises(HintError, match="program_id"):
        agent_program("bad\nid")
    with pytest.raises(HintError, match="cache_control.ttl"):
        agent_program("ok", ttl="-1s")
    with pytest.raises(HintError, match="tool"):
        agent_program("ok").next_tool("rm -rf /")


def test_streaming_gens_carry_the_program_too(stub):
    url, seen = stub

    @sgl.function
    def streamed(s):
        s += "q:" + sgl.gen("a", max_tokens=2)

    with agent_program("streamer", ttl="2s") as prog:
        state = streamed.run(backend=ContinuumEndpoint(url), stream=True)
        state.sync()  # not text_iter: sglang's text_iter returns "" when the run ends first
    assert state.error() is None
    # the server streams cumulative texts (" o1", " o1ut"); the variable is built from the
    # deltas the endpoint yields, so cumulative yields would read " o1 o1ut"
    assert state["a"] == " o1ut"
    assert _custom(seen) == [{"program_id": "streamer", "last_turn": False,
                              "cache_control": {"type": "ephemeral", "ttl": "2s"}}]
    assert seen[0][2]["stream"] is True
    assert [t.cached_tokens for t in prog.turns] == [90]
