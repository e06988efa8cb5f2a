"""Send one case and judge the answer.

Verdicts: ``2xx``; ``4xx`` (a client error with a non-empty message); ``5xx`` (a server
error, including an error event inside a 200 stream); ``crash`` (connection dropped or
refused, or no answer within the timeout); ``4xx-silent`` (a 4xx without a message);
``4xx-echo`` (a 4xx longer than ``MAX_ERROR_CHARS`` that holds ``ECHO_RUN``
characters of the request in a row: an error quotes at most a short prefix of a
rejected value, so this one echoes the input back, into the client and the server's
log). Everything but 2xx and 4xx is a failure to investigate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import requests

from sglang_continuum.fuzz.cases import Case
from sglang_continuum.fuzz.values import RawJSON

FAILURES = ("5xx", "crash", "4xx-silent", "4xx-echo")
# An error this short is fine whatever it quotes (its fixed text and short prefixes);
# a longer one (many schema errors) must not hold a long run of the request.
MAX_ERROR_CHARS = 2000
ECHO_RUN = 256
_ECHO_PROBES = 500  # windows compared, spread over the answer


@dataclass(frozen=True)
class Outcome:
    index: int
    category: str
    route: str
    verdict: str
    status: int  # 0 when no HTTP answer came
    detail: str  # first characters of the answer (or the exception) for failures


def encode(body) -> bytes:
    """JSON bytes of a body; RawJSON fragments are spliced in verbatim."""
    if isinstance(body, bytes):
        return body
    fragments: list[str] = []

    def splice(o):
        if isinstance(o, RawJSON):
            fragments.append(o.text)
            return f"\u0001raw{len(fragments) - 1}\u0001"
        raise TypeError(f"not JSON: {type(o).__name__}")

    text = json.dumps(body, default=splice)
    for i, frag in enumerate(fragments):
        text = text.replace(json.dumps(f"\u0001raw{i}\u0001"), frag)
    return text.encode("utf-8", "surrogatepass")


def _stream_error(text: str) -> int:
    """HTTP-like code of an error event inside an SSE stream (0 if none)."""
    # Split on "\n" only: str.splitlines() also splits on U+2028, U+0085 and others
    # that JSON leaves unescaped inside a generated token's text.
    for line in text.split("\n"):
        if not line.startswith("data:") or line.strip() == "data: [DONE]":
            continue
        try:
            event = json.loads(line[5:])
        except ValueError:
            return 500  # a malformed event is a server bug
        err = event.get("error") if isinstance(event, dict) else None
        if isinstance(err, dict):
            code = err.get("code", 500)
            return code if isinstance(code, int) else 500
        if err:
            return 500
    return 0


def echoes(text: str, body: bytes) -> bool:
    """Whether an answer holds ECHO_RUN characters of the request body in a row
    (checked at up to _ECHO_PROBES windows spread over the answer)."""
    if len(text) <= MAX_ERROR_CHARS or len(body) < ECHO_RUN:
        return False
    sent = body.decode("utf-8", "replace")
    step = max(64, len(text) // _ECHO_PROBES)
    return any(text[i:i + ECHO_RUN] in sent
               for i in range(0, len(text) - ECHO_RUN + 1, step))


def judge(status: int, text: str, streamed: bool, body: bytes = b"") -> str:
    if 200 <= status < 300:
        code = _stream_error(text) if streamed else 0
        if code >= 500:
            return "5xx"
        return "4xx" if 400 <= code < 500 else "2xx"
    if 400 <= status < 500:
        if not text.strip() or text.strip() in ("{}", '""', "null"):
            return "4xx-silent"
        return "4xx-echo" if echoes(text, body) else "4xx"
    return "5xx"


def send(url: str, case: Case, timeout: float) -> Outcome:
    data = encode(case.body)
    streamed = isinstance(case.body, dict) and case.body.get("stream") is True
    headers = {"Content-Type": "application/json", **case.headers}
    try:
        r = requests.post(url + case.route, data=data, headers=headers, timeout=timeout,
                          stream=streamed)
        text = r.text if not streamed else "".join(
            chunk.decode("utf-8", "replace") for chunk in r.iter_content(8192))
    except requests.RequestException as e:
        return Outcome(case.index, case.category, case.route, "crash", 0,
                       f"{type(e).__name__}: {e}"[:300])
    verdict = judge(r.status_code, text, streamed, data)
    detail = "" if verdict == "2xx" else text[:300]
    return Outcome(case.index, case.category, case.route, verdict, r.status_code, detail)
