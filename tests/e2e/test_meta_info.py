"""End to end: a finished request's response says what the overlay did with it.

``meta_info["continuum"]`` on ``/generate`` and ``metadata.continuum`` on a
non-streaming ``/v1/chat/completions`` response name the program the request was keyed
to (and by which field, or "inferred"), whether it consumed its program's lock, and
the lock set after it (TTL, tokens). The server runs with ``--tool-call-parser
qwen3_coder``: a turn whose output is a Qwen3-Coder XML tool call (forced by a regex,
the weights are random) keys the duration statistics by the tool SGLang's detector names.
"""

from __future__ import annotations

import re
import time

import pytest
import requests

from sglang_continuum.launcher.client import generate, random_ids

pytestmark = pytest.mark.server

MAX_TTL = 40  # --continuum-max-ttl: a hint above it comes back bounded


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(["--continuum-max-ttl", str(MAX_TTL),
                         "--tool-call-parser", "qwen3_coder"])


def _feedback(meta: dict) -> dict:
    value = meta["continuum"]
    assert isinstance(value, list) and len(value) == 1, value
    return value[0]


def test_generate_reports_program_lock_and_hit(server):
    prompt = random_ids(200, 1)
    first = generate(server.url, prompt, 4, program="fb-1", tool="ls", ttl="30s")
    fb = _feedback(first["meta_info"])
    assert fb["program"] == "fb-1" and fb["keyed_by"] == "program_id"
    assert fb["lock_hit"] is False
    context = len(prompt) + len(first["output_ids"])
    assert fb["lock"] == {"ttl_s": 30.0, "tokens": context}
    assert fb["decision"] == "hint"
    second = generate(server.url, prompt + first["output_ids"] + [11, 12], 4,
                      program="fb-1", ttl="1h")
    fb2 = _feedback(second["meta_info"])
    assert fb2["lock_hit"] is True
    assert second["meta_info"]["cached_tokens"] >= context - 1
    assert fb2["lock"]["ttl_s"] == MAX_TTL  # the hint, bounded by the max TTL
    last = generate(server.url, prompt + first["output_ids"] + [11, 12]
                    + second["output_ids"] + [13], 4, program="fb-1", last=True)
    fb3 = _feedback(last["meta_info"])
    assert fb3["lock_hit"] is True and fb3["lock"] is None
    assert fb3["decision"] == "last_turn"


def test_generate_reports_the_field_that_keyed_it_and_bounds_the_id(server):
    long_id = "s" * 100
    r = generate(server.url, random_ids(50, 2), 2, session_id=long_id)
    fb = _feedback(r["meta_info"])
    assert fb["keyed_by"] == "session_id" and fb["program"] == long_id[:32]
    r = generate(server.url, random_ids(50, 3), 2, routing_key="rk-1")
    assert _feedback(r["meta_info"])["keyed_by"] == "routing_key"


def test_plain_and_inferred_requests(server):
    prompt = random_ids(300, 4)
    first = generate(server.url, prompt, 4)
    fb = _feedback(first["meta_info"])
    assert fb["keyed_by"] in (None, "inferred") and fb["lock_hit"] is False
    follow = generate(server.url, prompt + first["output_ids"] + random_ids(20, 5), 4)
    fb2 = _feedback(follow["meta_info"])
    assert fb2["keyed_by"] == "inferred" and fb2["program"]


def test_chat_completion_carries_it_in_metadata(server):
    body = {"model": "default", "max_tokens": 3, "temperature": 0,
            "messages": [{"role": "user", "content": "list the files " * 40}],
            "custom_params": {"program_id": "chat-fb", "cache_control":
                              {"type": "ephemeral", "ttl": "20s"}}}
    r = requests.post(f"{server.url}/v1/chat/completions", json=body, timeout=120)
    assert r.status_code == 200, r.text
    fb = _feedback(r.json()["metadata"])
    assert fb["program"] == "chat-fb" and fb["keyed_by"] == "program_id"
    assert fb["lock"]["ttl_s"] == 20.0 and fb["lock"]["tokens"] > 0


QWEN3_CODER_CALL = ("<tool_call>\n<function=read_file>\n<parameter=path>\nmain.py\n"
                    "</parameter>\n</function>\n</tool_call>")


def test_the_servers_tool_parser_names_the_tool(server):
    sp = {"max_new_tokens": 96, "temperature": 0.0, "regex": re.escape(QWEN3_CODER_CALL),
          "custom_params": {"program_id": "xml-tools"}}
    prompt = random_ids(80, 9)
    r = requests.post(f"{server.url}/generate", json={"input_ids": prompt,
                                                      "sampling_params": sp}, timeout=300)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["text"] == QWEN3_CODER_CALL, first["text"]
    # The tool's duration is recorded when the program's next turn arrives.
    generate(server.url, prompt + first["output_ids"] + [11], 2, program="xml-tools",
             last=True)
    deadline = time.monotonic() + 60  # bounds a failure; the export is prompt
    while True:
        names = {k.split('tool="')[1].split('"')[0] for k in server.metrics()
                 if k.startswith("sglang_continuum_tool_duration_samples{")}
        if "read_file" in names or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "read_file" in names, names
