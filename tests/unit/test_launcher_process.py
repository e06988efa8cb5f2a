"""The test launcher retries on a port taken between free_port() and the server's bind."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sglang_continuum.launcher import server as srv


def test_a_taken_port_in_the_log_raises_port_taken_at_once(tmp_path):
    log = tmp_path / "s.log"
    log.write_text("ERROR:    [Errno 98] error while attempting to bind on address "
                   "('127.0.0.1', 1): address already in use\\n")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(srv.PortTaken):
            srv.wait_ready("http://127.0.0.1:1", proc, log, timeout=20)
    finally:
        proc.kill()
        proc.wait()


def test_launch_starts_again_on_a_new_port_when_the_port_was_taken(tmp_path, monkeypatch):
    ports = iter([5001, 5002])
    monkeypatch.setattr(srv, "free_port", lambda: next(ports))
    seen = []

    def fake_wait(url, proc, log_path, timeout):
        seen.append(url)
        if url.endswith(":5001"):
            raise srv.PortTaken(url)

    monkeypatch.setattr(srv, "wait_ready", fake_wait)
    real_popen = subprocess.Popen
    monkeypatch.setattr(srv.subprocess, "Popen", lambda *a, **k: real_popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True))
    with srv.launch([], tmp_path, name="t") as s:
        assert s.url.endswith(":5002")
    assert seen == ["http://127.0.0.1:5001", "http://127.0.0.1:5002"]
