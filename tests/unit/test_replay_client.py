import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sglang_continuum.replay import HttpSender, SendError


def sse_server(chunks, status=200):
    seen = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(status)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for c in chunks:
                self.wfile.write(b"data: " + json.dumps(c).encode() + b"\n\n")
            self.wfile.write(b"data: [DONE]\n\n")

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}", seen


def meta(n, **kw):
    return {"prompt_tokens": 3, "completion_tokens": n, "cached_tokens": 1, **kw}


@pytest.mark.parametrize("incremental", [False, True])
def test_streams_ids_and_meta(incremental):
    ids = [11, 12, 13]
    chunks = [{"output_ids": ids[i:i + 1] if incremental else ids[:i + 1],
               "meta_info": meta(i + 1, **({"queue_time": 0.5} if i == 2 else {}))}
              for i in range(3)]
    srv, url, seen = sse_server(chunks)
    try:
        r = HttpSender(url)([1, 2, 3], 3, {"program_id": "p", "last_turn": False})
    finally:
        srv.shutdown()
    assert r.output_ids == (11, 12, 13) and r.meta["queue_time"] == 0.5 and r.ttft_s >= 0
    sp = seen[0]["sampling_params"]
    assert seen[0]["input_ids"] == [1, 2, 3] and seen[0]["stream"] is True
    assert sp["ignore_eos"] is True and sp["max_new_tokens"] == 3
    assert sp["custom_params"] == {"program_id": "p", "last_turn": False}


def test_http_error_and_error_chunk():
    srv, url, _ = sse_server([], status=400)
    try:
        with pytest.raises(SendError, match="HTTP 400"):
            HttpSender(url)([1], 1, None)
    finally:
        srv.shutdown()
    srv, url, _ = sse_server([{"error": {"message": "bad"}}])
    try:
        with pytest.raises(SendError, match="bad"):
            HttpSender(url)([1], 1, None)
    finally:
        srv.shutdown()


def test_radix_sessions_open_tag_and_close_per_program():
    from sglang_continuum.replay.client import RadixSessionSender

    seen = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            if self.path == "/generate":
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(b"data: " + json.dumps({"output_ids": [5],
                                                         "meta_info": meta(1)}).encode())
                self.wfile.write(b"\n\ndata: [DONE]\n\n")
            else:
                self.end_headers()

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        send = RadixSessionSender(HttpSender(url), url)
        send([1], 1, {"program_id": "p1", "last_turn": False})
        send([1, 5], 1, {"program_id": "p1", "last_turn": True})
    finally:
        srv.shutdown()
    assert [p for p, _ in seen] == ["/open_session", "/generate", "/generate", "/close_session"]
    assert seen[0][1]["session_id"] == "p1" and seen[3][1] == {"session_id": "p1"}
    assert seen[1][1]["session_id"] == "p1" and seen[2][1]["session_id"] == "p1"


def test_plain_agent_sender_sends_no_identity():
    from sglang_continuum.replay.client import PlainAgentSender

    srv, url, seen = sse_server([{"output_ids": [5], "meta_info": meta(1)}])
    try:
        send = PlainAgentSender(HttpSender(url))
        send([1, 2], 1, {"program_id": "p1", "last_turn": True, "tool": "bash"})
    finally:
        srv.shutdown()
    body = seen[0]
    assert "custom_params" not in body["sampling_params"]
    assert "session_id" not in body and body["input_ids"] == [1, 2]
