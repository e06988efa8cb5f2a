"""End to end: tenants (cache_salt and extra_key, each its own) cannot touch each other's
locks, and --continuum-tenant-share stops one tenant from crowding out another."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests

from sglang_continuum.launcher.client import generate, generate_stream, random_ids

pytestmark = pytest.mark.server

PROGRAM_TOKENS = 1500


@pytest.fixture(scope="module")
def isolated(start_server):
    # The competitors send no id: inference off keeps them stock (on, a fresh server's
    # first turns lock as likely agents' and would count in the locked tokens).
    return start_server(["--continuum-infer-programs", "off"], name="tenants")


@pytest.fixture(scope="module")
def shared(start_server):
    # Pool 8192: a tenant may lock 0.3 * 8192 = 2457 tokens, all tenants 0.9 * 8192.
    return start_server(["--continuum-tenant-share", "0.3", "--continuum-lock-budget", "0.9",
                         "--continuum-per-program-cap", "0.25"], name="tenant-share")


def _settled(server, name):
    server.settle()  # the exported snapshot now holds everything sent before
    return server.metric(name)


# SGLang keeps cache_salt and extra_key apart (both are in its RadixKey): the same
# string in the other field is another tenant; so is a long salt (hashed, core/tenants.py).
@pytest.mark.parametrize("other", [{"cache_salt": "tenant-b"}, {"extra_key": "tenant-b"},
                                   {"extra_key": "tenant-a"},
                                   {"cache_salt": "tenant-a" + "x" * 200_000}],
                         ids=["salt", "extra_key", "same_string_as_extra_key", "long_salt"])
def test_other_tenant_cannot_consume_extend_or_release_a_lock(isolated, other):
    url = isolated.url
    pid = f"shared-{uuid.uuid4().hex[:6]}"
    a = {"cache_salt": "tenant-a"}
    prompt = random_ids(PROGRAM_TOKENS, 11)
    first = generate(url, prompt, 8, program=pid, ttl="60s", **a)
    context = prompt + first["output_ids"]
    locked = _settled(isolated, "sglang_continuum_locked_tokens")
    assert locked >= len(context)
    dropped = isolated.metric("sglang_continuum_locks_dropped_total")
    consumed = isolated.metric("sglang_continuum_locks_consumed_total")

    # Tenant B, same program id: its last turn, its abort, its own turns.
    generate(url, context + random_ids(20, 12), 4, program=pid, last=True, **other)
    rid = f"b-{uuid.uuid4().hex}"
    running = threading.Event()
    t = threading.Thread(target=generate_stream, args=(url, random_ids(200, 13), 2000),
                         kwargs={"started": running, "program": pid, "rid": rid, **other})
    t.start()
    assert running.wait(600), "tenant B's request never started"
    requests.post(f"{url}/abort_request", json={"rid": rid}, timeout=30).raise_for_status()
    t.join(timeout=600)
    b_first = generate(url, random_ids(300, 14), 4, program=pid, ttl="60s", **other)
    b_ctx = random_ids(300, 14) + b_first["output_ids"]
    generate(url, b_ctx + random_ids(10, 15), 4, program=pid, last=True, **other)

    assert _settled(isolated, "sglang_continuum_locked_tokens") == locked
    assert isolated.metric("sglang_continuum_locks_dropped_total") == dropped
    # B consumed exactly its own lock (one), never A's; the barrier consumed its own.
    assert isolated.metric("sglang_continuum_locks_consumed_total") == consumed + 1 + 1

    for i in range(3):  # competition that would evict an unlocked context
        generate(url, random_ids(3000, 100 + i), 4)
    second = generate(url, context + random_ids(50, 16), 4, program=pid, last=True, **a)
    assert second["meta_info"]["cached_tokens"] >= 0.95 * len(context)
    assert _settled(isolated, "sglang_continuum_locked_tokens") == 0


def test_tenant_share_stops_one_tenant_crowding_out_another(shared):
    url = shared.url
    set0 = shared.metric("sglang_continuum_locks_set_total")
    refused0 = shared.metric("sglang_continuum_locks_refused_total")
    for i in range(3):  # 3 * 1008 tokens > 2457: the third lock of tenant A is refused
        generate(url, random_ids(1000, 200 + i), 8, program=f"a{i}", ttl="60s",
                 cache_salt="tenant-a")
    shared.wait_metric("sglang_continuum_locks_refused_total", refused0 + 1)
    shared.settle()
    assert shared.metric("sglang_continuum_locks_set_total") == set0 + 2 + 1  # + settle's
    assert shared.metric("sglang_continuum_locks_refused_total") == refused0 + 1
    assert '"tenant_share": 1' in shared.log()  # the status line names the bound

    generate(url, random_ids(1000, 300), 8, program="b0", ttl="60s", cache_salt="tenant-b")
    shared.settle()
    assert shared.metric("sglang_continuum_locks_set_total") == set0 + 3 + 2  # B still locks
    assert shared.metric("sglang_continuum_locks_refused_total") == refused0 + 1
    assert shared.metric("sglang_continuum_locked_tokens") == 3 * 1008
