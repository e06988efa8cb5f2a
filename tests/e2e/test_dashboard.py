"""The Grafana dashboard in examples/monitoring/ queries only metrics a live overlay
server exports: a renamed metric must fail here, not show an empty panel."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sglang_continuum.launcher.client import generate, random_ids

DASHBOARD = (Path(__file__).resolve().parents[2] / "examples" / "monitoring"
             / "continuum-dashboard.json")

_SELECTOR = re.compile(r"\{[^}]*\}")            # label matchers
_RANGE = re.compile(r"\[[^\]]*\]")               # range vectors, [$__rate_interval]
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_:])\d[\d.]*(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_CALL = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\(")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
             "offset", "and", "or", "unless", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: its identifiers, less function names,
    keywords, numbers, label matchers, grouping labels and ranges."""
    bare = _GROUPING.sub(" ", _RANGE.sub(" ", _SELECTOR.sub(" ", expr)))
    bare = _NUMBER.sub(" ", bare)
    functions = set(_CALL.findall(bare))
    return {w for w in _WORD.findall(bare) if w not in functions and w not in _KEYWORDS}


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def test_metric_names_reads_promql():
    expr = ('histogram_quantile(0.99, sum by (le) (rate(sglang:queue_time_seconds_bucket'
            '{model_name="m"}[5m]))) / clamp_min(rate(sglang_continuum_locks_set_total[1m]),'
            ' 1e-9)')
    assert metric_names(expr) == {"sglang:queue_time_seconds_bucket",
                                  "sglang_continuum_locks_set_total"}


@pytest.mark.server
def test_every_dashboard_metric_is_exported(start_server):
    names = set().union(*map(metric_names, dashboard_exprs()))
    assert any(n.startswith("sglang_continuum_") for n in names)
    assert any(n.startswith("sglang:") for n in names)
    server = start_server(name="dashboard")
    # One program with a tool between two turns: the labelled series (tool durations,
    # SGLang's per-request histograms) exist only once something was observed.
    ended = server.metric("sglang_continuum_programs_ended_total")
    prompt = random_ids(64, 7)
    first = generate(server.url, prompt, 4, program="dash", tool="ls", ttl="30s")
    generate(server.url, prompt + first["output_ids"] + [11], 4, program="dash", last=True)
    server.wait_metric("sglang_continuum_programs_ended_total", lambda v: v >= ended + 1)
    server.wait_metric("sglang_continuum_tool_duration_samples", lambda v: v >= 1)
    exported = {k.split("{")[0] for k in server.metrics()}
    missing = sorted(names - exported)
    assert not missing, f"the dashboard queries metrics the server does not export: {missing}"
