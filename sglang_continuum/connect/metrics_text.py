"""Reading a server's ``/metrics`` (Prometheus text format) from a client."""

from __future__ import annotations

import re


def parse_metrics(text: str) -> dict[str, float]:
    """Samples of a Prometheus text page as ``{'name{labels}': value}``."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


class MissingMetric(KeyError):
    """The server exports no sample of the metric asked for."""


def metric_sum(samples: dict[str, float], name: str) -> float:
    """Sum of every sample of metric ``name`` (all label sets). KeyError when the server
    exports none: a check must not pass because a metric was renamed."""
    pattern = re.compile(rf"^{re.escape(name)}(\{{.*\}})?$")
    values = [v for k, v in samples.items() if pattern.match(k)]
    if not values:
        near = sorted({k.split("{")[0] for k in samples if name.split("_")[0] in k})[:20]
        raise MissingMetric(f"metric {name!r} is not exported; similar names: {near}")
    return sum(values)
