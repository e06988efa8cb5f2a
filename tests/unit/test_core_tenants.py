"""Tenant derivation: SGLang's namespaces (cache_salt, extra_key with any LoRA id) stay
apart, and a tenant costs a bounded number of bytes whatever the client sent."""

from __future__ import annotations

import gc
import tracemalloc
from types import SimpleNamespace

from sglang_continuum.adapter.controller import Controller, tenant_of
from sglang_continuum.adapter.settings import Settings
from sglang_continuum.core import PolicyConfig
from sglang_continuum.core.tenants import MAX_TENANT_CHARS, tenant


def test_no_namespace_is_the_default_tenant():
    assert tenant(None, None) == tenant("", "") == ""


def test_salt_and_extra_key_of_equal_value_are_distinct():
    assert tenant("x", None) != tenant(None, "x")
    assert len({tenant("x", None), tenant(None, "x"), tenant("x", "x"), tenant("xx", None),
                tenant("x", "y"), tenant("xy", None), tenant(None, "xy")}) == 7


def test_lora_adapters_under_one_salt_are_distinct():
    # SGLang appends lora_id to extra_key: the request of each adapter carries its own.
    assert tenant("s", "lora-a") != tenant("s", "lora-b") != tenant("s", None)


def test_long_namespaces_are_hashed_to_a_fixed_size():
    a, b = "a" * (1 << 20), "a" * ((1 << 20) - 1) + "b"
    assert len(tenant(a, None)) <= MAX_TENANT_CHARS and len(tenant(None, a)) <= MAX_TENANT_CHARS
    assert tenant(a, None) != tenant(b, None) and tenant(a, None) != tenant(None, a)
    assert tenant(a, None) == tenant("a" * (1 << 20), None)
    short = tenant("s" * 10, None)
    assert "s" * 10 in short  # short ones stay readable in logs


def _req(rid, salt=None, extra_key=None, n_in=100):
    custom = {"program_id": f"p-{rid}", "cache_control": {"type": "ephemeral", "ttl": "60s"}}
    return SimpleNamespace(
        rid=rid, sampling_params=SimpleNamespace(custom_params=custom, max_new_tokens=16),
        routing_key=None,
        session_id=None, cache_salt=salt, extra_key=extra_key,
        origin_input_ids=list(range(n_in)), output_ids=[7] * 10, last_node=f"node-{rid}",
        prefix_len=0, is_retracted=False, finished_reason=None, finished=lambda: True)


class _Cache:
    def lock(self, node):
        return node

    def unlock(self, handle):
        pass

    def is_root(self, node):
        return False


def test_scheduler_request_tenant_keeps_namespaces_apart():
    assert tenant_of(_req("a", salt="x")) != tenant_of(_req("b", extra_key="x"))


def test_long_salts_retain_bounded_bytes():
    """50 programs with distinct 1 MiB salts, each finished with a lock, then their
    requests gone: the controller's tables keep a few KiB per program, not the salts."""
    ctl = Controller(_Cache(), Settings(PolicyConfig()), capacity_tokens=1_000_000,
                     clock=lambda: 1.0)
    warm = _req("warm", salt="short")  # the first release imports SGLang: not traced
    ctl.on_queued(warm, False)
    ctl.on_release(warm, checkpointed=True)
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        for i in range(50):
            r = _req(f"r{i}", salt=f"{i:04d}" + "x" * (1 << 20))
            ctl.on_queued(r, False)
            ctl.on_admitted(r)
            ctl.on_release(r, checkpointed=True)
            del r
        gc.collect()
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ctl.policy.snapshot().active_locks == 51
    assert retained - base < 50 * 8192, retained - base


# Tool-duration statistics per tenant -------------------------------------------------

def _turns(policy, key, tool, gap_s, gaps, now):
    """`gaps` tool calls of `gap_s` seconds between turns of program `key`; returns the
    time after the last turn finished."""
    for i in range(gaps + 1):
        if i:
            now += gap_s
        policy.on_arrival(key, now)
        policy.on_admitted(key, now)
        policy.on_finish(key, now, 1000, tool, last_turn=False)
    return now


def _inferred_ttl(policy, key, tool, now):
    """The TTL the policy gives a finished turn of an inferred program of `key`: it reads
    the recorded durations of `tool` (open-ended, memory free to hold)."""
    ttl, reason = policy.on_finish(key, now, 1000, tool, last_turn=False, open_ended=True)
    assert reason == "hold"
    return ttl


def test_one_tenants_tool_durations_do_not_set_another_tenants_ttls():
    from sglang_continuum.core import ContinuumPolicy

    k = 10
    cfg = PolicyConfig(cold_start_samples=k, open_cold_start_samples=k)
    policy = ContinuumPolicy(cfg, capacity_tokens=1_000_000)
    b_key, a_key = (tenant("b", None), "b-1"), (tenant("a", None), "a-1")
    now = _turns(policy, b_key, "bash", 1.0, 2 * k, 0.0)
    before = _inferred_ttl(policy, b_key, "bash", now)
    assert before == 1.0
    # Tenant A floods "bash" with 100 s durations, a hundred times B's samples.
    now = _turns(policy, a_key, "bash", 100.0, 200 * k, now)
    assert _inferred_ttl(policy, a_key, "bash", now) != before  # A's own durations
    assert _inferred_ttl(policy, b_key, "bash", now) == before
    # ...or with zero-second ones, which would make B's locks lapse at once.
    now = _turns(policy, a_key, "bash", 0.0, 400 * k, now)
    assert _inferred_ttl(policy, b_key, "bash", now) == before
    # A tenant with no durations of its own reads the shared ones (its prior).
    c_key = (tenant("c", None), "c-1")
    assert _inferred_ttl(policy, c_key, "bash", now) != before


def test_one_tenant_decides_as_with_shared_statistics_alone():
    from sglang_continuum.core import ToolStats

    alone, shared = ToolStats(100, 3, tenant_window=4), ToolStats(100, 3, tenant_window=4)
    for i in range(50):
        alone.record("cd", float(i % 7), "")
        shared.record("cd", float(i % 7))
        alone.record(None, float(i % 5), "")
        shared.record(None, float(i % 5))
    for tool in ("cd", None, "unknown"):
        assert list(alone.sorted_samples(tool, "")) == list(shared.sorted_samples(tool))
    alone.record("cd", 99.0, "other")  # no longer all the tenant's own: its window
    assert list(alone.sorted_samples("cd", "")) == sorted(float(i % 7) for i in range(46, 50))
