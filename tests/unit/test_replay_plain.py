"""Plain traffic beside the agents: Poisson single-turn requests with no identity."""

from __future__ import annotations

import threading
import time

import pytest

from sglang_continuum.replay.client import Reply, SendError
from sglang_continuum.replay.plain import PlainLoad, PlainTraffic


class FakeSend:
    def __init__(self, fail_every: int = 0):
        self.calls = []
        self.lock = threading.Lock()
        self.fail_every = fail_every
        self.release = threading.Event()

    def __call__(self, ids, max_new, custom_params):
        with self.lock:
            self.calls.append((list(ids), max_new, custom_params))
            n = len(self.calls)
        self.release.wait(30)
        if self.fail_every and n % self.fail_every == 0:
            raise SendError("HTTP 503")
        return Reply((1,) * max_new, 0.01 * n, {"cached_tokens": 0})


def _wait(pred, deadline_s=60.0):
    end = time.monotonic() + deadline_s
    while not pred():
        assert time.monotonic() < end, "state not reached before the deadline"
        time.sleep(0.01)


def test_sends_identity_free_fixed_size_requests_and_waits_for_inflight():
    send = FakeSend(fail_every=4)
    traffic = PlainTraffic(PlainLoad(rate=500.0, prompt=30, output=4, seed=1), send).start()
    _wait(lambda: len(send.calls) >= 8)        # all blocked in flight
    done = {}
    t = threading.Thread(target=lambda: done.update(traffic.stop()))
    t.start()
    time.sleep(0.05)
    assert not done                            # stop() waits for the requests in flight
    send.release.set()
    t.join(60)
    n = len(send.calls)
    assert done["requests"] + done["errors"] == n and done["errors"] == n // 4
    assert all(len(ids) == 30 and m == 4 and cp is None for ids, m, cp in send.calls)
    assert len({tuple(ids) for ids, _, _ in send.calls}) == n   # fresh prompts
    assert done["ttft_p99_s"] >= done["ttft_p50_s"] > 0
    assert done["rate"] == 500.0 and done["prompt"] == 30


@pytest.mark.parametrize("kw, field", [({"rate": 0}, "rate"), ({"rate": 1, "prompt": 0}, "prompt"),
                                       ({"rate": 1, "output": 1.5}, "output")])
def test_bad_load_names_the_field(kw, field):
    with pytest.raises(ValueError, match=f"PlainLoad.{field}"):
        PlainLoad(**kw)
