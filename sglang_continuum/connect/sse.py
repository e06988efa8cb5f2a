"""The server-sent events of a streamed SGLang ``/generate`` (``"stream": true``)."""

from __future__ import annotations

import json
from typing import Iterable, Iterator


def sse_chunks(lines: Iterable[bytes | str]) -> Iterator[dict]:
    """The JSON chunks of a stream's ``data:`` lines (``requests``' ``iter_lines()``),
    until ``data: [DONE]``. Other lines (blank keep-alives, comments) are skipped."""
    for line in lines:
        if isinstance(line, bytes):
            line = line.decode("utf-8")
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        yield json.loads(payload)
