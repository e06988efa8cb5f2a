"""The Prometheus export as SGLang serves it: prometheus_client's multiprocess mode,
read back through its MultiProcessCollector (a subprocess: the mode is chosen when
prometheus_client is imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sglang_continuum.connect.metrics_text import parse_metrics

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import json, sys
    from types import SimpleNamespace
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess
    from sglang_continuum.adapter.metrics import PrometheusExporter, scheduler_labels
    from sglang_continuum.core import ContinuumPolicy, PolicyConfig

    steps = json.loads(sys.argv[1])
    exporters = {}
    for step in steps:
        rank = step["dp_rank"]
        if rank not in exporters:
            exporters[rank] = PrometheusExporter(scheduler_labels("m", 0, 0, rank),
                                                 max_tools=step.get("max_tools", 32))
        exp = exporters[rank]
        snap = ContinuumPolicy(PolicyConfig(), 1000).snapshot()
        fields = dict(locked_tokens=step.get("locked", 0),
                      tools={k: tuple(v) for k, v in step.get("tools", {}).items()})
        exp.update(snap.__class__(**{**snap.__dict__, **fields}))
        for ttl, reason in step.get("ttls", []):
            exp.observe_ttl(ttl, reason)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    sys.stdout.write(generate_latest(registry).decode())
""")


def export(steps, tmp_path) -> dict[str, float]:
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
               PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(steps)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return parse_metrics(out.stdout)


def _get(samples, name, **labels):
    want = {f'{k}="{v}"' for k, v in labels.items()}
    hits = [v for k, v in samples.items() if k.split("{")[0] == name
            and want <= set(k.partition("{")[2].rstrip("}").split(","))]
    assert len(hits) == 1, (name, labels, hits)
    return hits[0]


def test_each_dp_rank_keeps_its_own_series_with_sglang_labels(tmp_path):
    samples = export([{"dp_rank": 0, "locked": 100}, {"dp_rank": 1, "locked": 7}], tmp_path)
    name = "sglang_continuum_locked_tokens"
    assert _get(samples, name, model_name="m", tp_rank="0", pp_rank="0", dp_rank="0") == 100
    assert _get(samples, name, dp_rank="1") == 7


def test_ttl_histogram_sum_is_the_ttls_set(tmp_path):
    ttls = [[0.3, "hint"], [90.0, "hint"], [0.0, "lock_budget"], [0.0, "last_turn"],
            [5.0, "hold"]]
    samples = export([{"dp_rank": 0, "ttls": ttls}], tmp_path)
    assert _get(samples, "sglang_continuum_tau_seconds_sum", dp_rank="0") == pytest.approx(95.3)
    assert _get(samples, "sglang_continuum_tau_seconds_count", dp_rank="0") == 4
    assert _get(samples, "sglang_continuum_tau_seconds_bucket", le="0.0") == 1
    assert _get(samples, "sglang_continuum_tau_seconds_bucket", le="60.0") == 3
    assert _get(samples, "sglang_continuum_tau_seconds_bucket", le="+Inf") == 4


def test_tool_labels_are_bounded_and_a_tool_leaving_the_top_goes_stale(tmp_path):
    first = {"a": [5, 1.0, 2.0], "b": [4, 1.0, 2.0], "c": [1, 1.0, 2.0]}
    later = {**first, "d": [9, 1.0, 2.0]}  # d enters the top two, b leaves it
    samples = export([{"dp_rank": 0, "max_tools": 2, "tools": first},
                      {"dp_rank": 0, "max_tools": 2, "tools": later}], tmp_path)
    name = "sglang_continuum_tool_duration_samples"
    tools = {k.split('tool="')[1].split('"')[0] for k in samples if k.startswith(name + "{")}
    assert tools == {"a", "b", "d", "(other)"}  # c never had its own series
    assert _get(samples, name, tool="d") == 9
    assert _get(samples, name, tool="(other)") == 5  # b and c
    assert _get(samples, name, tool="b") == 0  # stale: counted under (other) now
    assert sum(v for k, v in samples.items() if k.startswith(name + "{")) == 19
