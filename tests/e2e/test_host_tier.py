"""End to end: the host tier (SGLang HiCache) on the CPU server, with the overlay.

One server, ``--enable-hierarchical-cache`` on the CPU device (patches/0012), a host
pool of twice a 4096-token device pool (small pools keep the test fast). First a stock prefix evicted from the device
pool comes back from host memory on its next hit (no re-prefill, same output as a device
hit). Then a program whose TTL lock gives way under memory pressure: its KV is demoted
to host memory (device slots freed, held on host inside its TTL) and its next turn loads
it back from there. Every wait is for server state read from /metrics or the answer."""

from __future__ import annotations

import pytest

from sglang_continuum.launcher.client import generate, random_ids

pytestmark = pytest.mark.server

POOL = 4096
PROMPT = 800
COMPETITOR = 1500  # three of these overflow the device pool


@pytest.fixture(scope="module")
def server(start_server):
    # Requests without an id are the stock prefix and the competitors here: inference off
    # keeps them stock (on, a fresh server's first turns lock as likely agents').
    return start_server(["--enable-hierarchical-cache", "--max-total-tokens", str(POOL),
                         "--continuum-infer-programs", "off"], name="host-tier")


def _host_hit_tokens(server) -> float:
    """Prompt tokens served from host memory (SGLang's counter, label cache_source)."""
    return sum(v for k, v in server.metrics().items()
               if k.startswith("sglang:cached_tokens_total") and 'cache_source="host"' in k)


def test_an_evicted_prefix_is_loaded_back_from_host(server):
    prompt = random_ids(PROMPT, 1)
    generate(server.url, prompt, 4)
    device_hit = generate(server.url, prompt, 4)
    assert device_hit["meta_info"]["cached_tokens_details"] == \
        {"device": PROMPT - 1, "host": 0}
    for i in range(3):
        generate(server.url, random_ids(COMPETITOR, 100 + i), 4)
    host_hit = generate(server.url, prompt, 4)
    # The whole prefix came from host memory, and only the last token was computed ...
    assert host_hit["meta_info"]["cached_tokens"] == PROMPT - 1
    assert host_hit["meta_info"]["cached_tokens_details"]["host"] >= 0.9 * PROMPT
    # ... from KV equal to the device copy it was backed up from.
    assert host_hit["output_ids"] == device_hit["output_ids"]


def test_a_lock_that_gives_way_demotes_and_the_next_turn_loads_it_back(server):
    demoted = server.metric("sglang_continuum_locks_demoted_total")
    released = server.metric("sglang_continuum_locks_released_pressure_total")
    host_hits = _host_hit_tokens(server)
    prompt = random_ids(PROMPT, 7)
    first = generate(server.url, prompt, 16, program="agent-h", ttl="60s", tool="pytest")
    context = prompt + first["output_ids"]
    server.wait_metric("sglang_continuum_locked_tokens", len(context))

    # A prompt that fits only if the lock gives way (the engine is idle: it may).
    generate(server.url, random_ids(POOL - 700, 8), 4)
    server.wait_metric("sglang_continuum_locks_released_pressure_total", released + 1)
    server.wait_metric("sglang_continuum_locks_demoted_total", demoted + 1)
    # Demoted and held on host while the program is inside its TTL.
    assert server.wait_metric("sglang_continuum_host_held_tokens", len(context)) \
        == len(context)
    assert server.metric("sglang_continuum_locked_tokens") == 0

    second = generate(server.url, context + random_ids(100, 9), 8, program="agent-h",
                      last=True)
    details = second["meta_info"]["cached_tokens_details"]
    assert details["host"] >= 0.95 * len(context), details
    assert _host_hit_tokens(server) > host_hits
    # The end: no lock, no host hold, and the pool is whole (a prompt needing nearly
    # all of it is served).
    assert server.wait_metric("sglang_continuum_host_holds", 0) == 0
    assert server.metric("sglang_continuum_locked_tokens") == 0
    big = generate(server.url, random_ids(POOL - 200, 10), 2)
    assert big["meta_info"]["prompt_tokens"] == POOL - 200
    assert "Traceback" not in server.log()
