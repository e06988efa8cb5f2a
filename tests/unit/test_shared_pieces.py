"""The pieces several clients share: the SSE stream reader, the /metrics reader, the
Poisson arrivals, and the client's overlay fields (checked like the connectors')."""

from __future__ import annotations

import pytest

from sglang_continuum.connect.metrics_text import metric_sum, parse_metrics
from sglang_continuum.connect.sse import sse_chunks
from sglang_continuum.core import HintError
from sglang_continuum.launcher.client import program_fields
from sglang_continuum.workload.arrivals import poisson_arrivals


def test_sse_chunks_stop_at_done_and_skip_other_lines():
    lines = [b": keep-alive", b"", b'data: {"a": 1}', 'data:{"a": 2}', b"data: [DONE]",
             b'data: {"a": 3}']
    assert list(sse_chunks(lines)) == [{"a": 1}, {"a": 2}]


def test_metrics_sum_labels_and_a_missing_metric_raises():
    samples = parse_metrics("# HELP x y\nx_total 2\nx{tool=\"a\"} 1.5\nx 1\nxy 7\nbad nan?\n")
    assert metric_sum(samples, "x") == 2.5 and metric_sum(samples, "x_total") == 2
    with pytest.raises(KeyError, match="'nope'"):
        metric_sum(samples, "nope")


def test_poisson_arrivals_are_validated_and_deterministic():
    assert poisson_arrivals(5, 2.0, 1) == poisson_arrivals(8, 2.0, 1)[:5]
    assert poisson_arrivals(0, 1.0, 0) == []
    for n, rate in ((3, 0), (3, -1.0), (3, float("inf")), (-1, 1.0), (2.5, 1.0)):
        with pytest.raises(ValueError):
            poisson_arrivals(n, rate, 0)


def test_program_fields_are_checked_like_the_connectors():
    assert program_fields(None) == {}
    assert program_fields("p", ttl="2s") == {
        "program_id": "p", "last_turn": False, "cache_control": {"type": "ephemeral",
                                                                  "ttl": "2s"}}
    with pytest.raises(HintError):
        program_fields("p", ttl="soon")
