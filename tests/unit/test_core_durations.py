import math
import time

import numpy as np
import pytest

from sglang_continuum.core import ToolStats
from sglang_continuum.core.estimates import SortedWindow


def test_sorted_window_slides_and_stays_sorted():
    w = SortedWindow(3)
    for v in [5.0, 1.0, 3.0]:
        w.add(v)
    assert list(w.sorted()) == [1.0, 3.0, 5.0]
    w.add(2.0)  # evicts the oldest (5.0), not the largest
    assert list(w.sorted()) == [1.0, 2.0, 3.0]
    w.add(2.0)  # evicts 1.0
    w.add(0.5)  # evicts 3.0
    assert list(w.sorted()) == [0.5, 2.0, 2.0]
    assert len(w) == 3


@pytest.mark.parametrize("size", [1, 2, 7, 100])
@pytest.mark.parametrize("ties", [True, False])
def test_sorted_window_matches_reference_under_churn(size, ties):
    # After every add: a full window removes its oldest value and inserts the new one
    # in one move, both ways round (the new value above or below the old), with ties.
    rng = np.random.default_rng(3)
    values = rng.integers(0, 20, 2_000).astype(float) if ties else rng.exponential(2, 2_000)
    w, ref = SortedWindow(size), []
    for v in values:
        w.add(float(v))
        ref.append(float(v))
        ref = ref[-size:]
        assert list(w.sorted()) == sorted(ref)
        assert len(w) == len(ref)


def test_sorted_view_is_read_only():
    w = SortedWindow(4)
    w.add(1.0)
    with pytest.raises(ValueError):
        w.sorted()[0] = 3.0


def test_quantiles_nearest_rank():
    w = SortedWindow(10)
    for v in [4.0, 1.0, 3.0, 2.0]:
        w.add(v)
    assert w.quantile(0.5) == 2.0
    assert w.quantile(0.9) == 4.0
    assert math.isnan(SortedWindow(3).quantile(0.5))


def test_cold_start_rule_global_until_tool_has_more_than_k():
    stats = ToolStats(window=100, cold_start_samples=3)
    for d in [1.0, 2.0, 3.0]:
        stats.record("cd", d)
    stats.record(None, 10.0)
    assert stats.total() == 4
    assert stats.count("cd") == 3 and stats.count(None) == 4
    # 3 samples is not more than K=3: the global CDF
    assert list(stats.sorted_samples("cd")) == [1.0, 2.0, 3.0, 10.0]
    stats.record("cd", 0.5)
    assert list(stats.sorted_samples("cd")) == [0.5, 1.0, 2.0, 3.0]
    assert list(stats.sorted_samples("unknown")) == [0.5, 1.0, 2.0, 3.0, 10.0]
    assert list(stats.sorted_samples(None)) == [0.5, 1.0, 2.0, 3.0, 10.0]


def test_record_ignores_non_finite_and_clamps_negative():
    stats = ToolStats(window=10, cold_start_samples=0)
    stats.record("ls", math.nan)
    stats.record("ls", math.inf)
    stats.record("ls", -0.2)
    assert stats.total() == 1
    assert list(stats.sorted_samples("ls")) == [0.0]


def test_windows_slide_but_total_counts_all():
    stats = ToolStats(window=2, cold_start_samples=0)
    for d in [1.0, 2.0, 3.0]:
        stats.record("cd", d)
    assert stats.total() == 3
    assert list(stats.sorted_samples("cd")) == [2.0, 3.0]
    assert list(stats.sorted_samples(None)) == [2.0, 3.0]


def test_estimates_and_tool_bound():
    stats = ToolStats(window=100, cold_start_samples=0, max_tools=2)
    for d in [0.1, 0.2, 0.3, 0.4, 5.0]:
        stats.record("cd", d)
    stats.record("ls", 1.0)
    assert stats.estimates() == {"cd": (5, 0.3, 5.0), "ls": (1, 1.0, 1.0)}
    stats.record("cd", 0.1)  # cd is now the most recent
    stats.record("grep", 2.0)  # evicts ls, the least recently recorded
    assert set(stats.estimates()) == {"cd", "grep"}


def _traced_bytes(build):
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        kept = build()
        gc.collect()
        now, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return kept, now - base


def test_tool_statistics_memory_is_bounded_by_the_config():
    """Clients name tools: however many names and samples arrive, the statistics hold
    at most duration_window + max_tools * tool_window samples of a few bytes each."""
    from sglang_continuum.core import PolicyConfig

    cfg = PolicyConfig(duration_window=2000, tool_window=200, max_tools=8)

    def build():
        stats = ToolStats(cfg.duration_window, cfg.cold_start_samples, cfg.max_tools,
                          tool_window=cfg.tool_window)
        for i in range(40 * 400):  # 40 tools, 400 samples each, one tool after another
            stats.record(f"tool-{i // 400}", float(i % 97))
        return stats

    stats, used = _traced_bytes(build)
    assert len(stats.estimates()) == cfg.max_tools
    assert all(n == cfg.tool_window for n, _, _ in stats.estimates().values())
    samples = cfg.duration_window + cfg.max_tools * cfg.tool_window
    assert used <= 16 * samples + 4096 * (cfg.max_tools + 1), used


def test_default_tool_statistics_bound_is_small():
    """The defaults' worst case, at the bytes per sample a full window really costs."""
    from sglang_continuum.core import PolicyConfig

    cfg = PolicyConfig()
    n = 5000

    def build():
        stats = ToolStats(n, 0)
        for i in range(n):
            stats.record(None, float(i % 97))
        return stats

    _, used = _traced_bytes(build)
    per_sample = used / n
    tool_window = getattr(cfg, "tool_window", cfg.duration_window)
    worst = per_sample * (cfg.duration_window + cfg.max_tools * tool_window
                          + cfg.max_tool_tenants * cfg.tenant_tools * cfg.tenant_window)
    assert worst <= 8 * 2**20, f"{worst / 2**20:.0f} MiB"


def test_per_tenant_statistics_memory_is_bounded_by_the_config():
    """Clients name tenants and tools: however many of each arrive, the tenants' own
    windows add at most max_tool_tenants x tenant_tools windows of tenant_window
    samples to the shared ones."""
    from sglang_continuum.core import PolicyConfig

    cfg = PolicyConfig(duration_window=500, tool_window=100, max_tools=4, tenant_window=50,
                       tenant_tools=3, max_tool_tenants=5)

    def build():
        stats = ToolStats(cfg.duration_window, cfg.cold_start_samples, cfg.max_tools,
                          tool_window=cfg.tool_window, tenant_window=cfg.tenant_window,
                          tenant_tools=cfg.tenant_tools, max_tenants=cfg.max_tool_tenants)
        for i in range(20 * 6 * 60):  # 20 tenants, 6 tools each, 60 samples per tool
            stats.record(f"tool-{(i // 60) % 6}", float(i % 97), f"tenant-{i // 360}")
        return stats

    stats, used = _traced_bytes(build)
    assert stats.tenants() == cfg.max_tool_tenants
    last = "tenant-19"
    held = [stats.count(f"tool-{t}", last) for t in range(6)] + [stats.count(None, last)]
    assert sum(1 for n in held if n) == cfg.tenant_tools  # its all-durations window kept
    assert stats.count(None, last) == cfg.tenant_window
    assert stats.count("tool-0", "tenant-0") == 0  # the least recent tenant went first
    samples = (cfg.duration_window + cfg.max_tools * cfg.tool_window
               + cfg.max_tool_tenants * cfg.tenant_tools * cfg.tenant_window)
    windows = 1 + cfg.max_tools + cfg.max_tool_tenants * (cfg.tenant_tools + 1)
    assert used <= 16 * samples + 4096 * windows, used
