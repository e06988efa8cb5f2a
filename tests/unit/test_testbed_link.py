"""launcher/testbed_link.py: host-tier reloads paced like a GPU's host link (testbed)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sglang_continuum.launcher import testbed_link


def test_rate_from_the_environment():
    assert testbed_link.rate_from({}) is None
    assert testbed_link.rate_from({testbed_link.ENV: " "}) is None
    assert testbed_link.rate_from({testbed_link.ENV: "4.65e8"}) == 4.65e8
    for bad in ("fast", "0", "-1", "inf", "nan"):
        with pytest.raises(ValueError, match=testbed_link.ENV):
            testbed_link.rate_from({testbed_link.ENV: bad})


class Clock:
    def __init__(self, load_s):
        self.t, self.load_s, self.slept = 0.0, load_s, []

    def __call__(self):
        return self.t

    def load(self, pool, device_pool, host_indices, device_indices, layer_id, io_backend,
             **kw):
        self.t += self.load_s  # the copy itself
        self.args = (layer_id, io_backend, kw)

    def sleep(self, s):
        self.slept.append(s)
        self.t += s


POOL = SimpleNamespace(get_size_per_token=lambda: 800, layer_num=4)  # 200 bytes a layer


@pytest.mark.parametrize("load_s, slept", [(0.5, [1.5]), (3.0, [])])
def test_a_layer_load_takes_its_bytes_at_the_rate(load_s, slept):
    clock = Clock(load_s)
    wrapped = testbed_link.paced(clock.load, rate=1000.0, sleep=clock.sleep, clock=clock)
    wrapped(POOL, "dev", list(range(10)), "idx", 3, "direct", is_draft=False)
    assert clock.args == (3, "direct", {"is_draft": False})  # passed through
    assert clock.slept == pytest.approx(slept)  # 10 tokens x 200 B at 1000 B/s = 2 s


def test_each_reload_is_logged_once_after_its_last_layer():
    clock, lines = Clock(0.5), []
    pool = SimpleNamespace(get_size_per_token=lambda: 800, layer_num=4)
    wrapped = testbed_link.paced(clock.load, rate=1000.0, sleep=clock.sleep, clock=clock,
                                 log=lambda fmt, *args: lines.append(fmt % args))
    for reload_tokens in (10, 5):
        for layer in range(4):
            wrapped(pool, "dev", list(range(reload_tokens)), "idx", layer, "direct")
    # 10 tokens: 2 s a layer, 8 s in all; 5 tokens: 1 s a layer (0.5 copy + 0.5 sleep)
    assert lines == [testbed_link.RELOAD_LINE % (10, 8.0), testbed_link.RELOAD_LINE % (5, 4.0)]


def test_install_wraps_sglangs_host_pool_once(monkeypatch):
    from sglang.srt.mem_cache.pool_host.base import HostKVCache

    original = HostKVCache.load_to_device_per_layer_physical
    monkeypatch.setattr(HostKVCache, "load_to_device_per_layer_physical", original)
    assert testbed_link.install({}) is False
    assert HostKVCache.load_to_device_per_layer_physical is original
    env = {testbed_link.ENV: "1e9"}
    assert testbed_link.install(env) is True
    wrapped = HostKVCache.load_to_device_per_layer_physical
    assert wrapped is not original
    assert testbed_link.install(env) is True  # a second plugin load does not wrap twice
    assert HostKVCache.load_to_device_per_layer_physical is wrapped


def test_kv_bytes_per_token_of_the_presets():
    from sglang_continuum.server.presets import kv_bytes_per_token

    # 8 layers x 4 KV heads x 64 dims x (K, V) x 2 bytes; tiny: 4 x 2 x 64 x 2 x 2
    assert kv_bytes_per_token("testbed-100m") == 8192
    assert kv_bytes_per_token("tiny") == 2048


@pytest.mark.parametrize("rate", [None, "1e9"])
def test_the_production_plugin_imports_the_testbed_only_when_asked(rate):
    import os
    import subprocess
    import sys

    probe = ("import sys; from sglang_continuum.server import plugin; plugin.register(); "
             "from sglang.srt.mem_cache.pool_host.base import HostKVCache as H; "
             "print(sorted(m for m in sys.modules if m.startswith('sglang_continuum.launcher')),"
             " hasattr(H.load_to_device_per_layer_physical, '_continuum_paced'))")
    env = {k: v for k, v in os.environ.items() if k != testbed_link.ENV}
    if rate is not None:
        env[testbed_link.ENV] = rate
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    last = out.stdout.strip().splitlines()[-1]
    if rate is None:
        assert last == "[] False"
    else:
        assert "'sglang_continuum.launcher.testbed_link'" in last and last.endswith("True")
