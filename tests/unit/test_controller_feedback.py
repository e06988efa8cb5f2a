"""The Controller's per-request feedback (what a response's meta_info reports) and its
tool names through SGLang's detector of the server's --tool-call-parser."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sglang_continuum.adapter.controller import Controller
from sglang_continuum.adapter.settings import Settings
from sglang_continuum.core import PolicyConfig

from tests.unit.test_controller import Clock, FakeCache, req

QWEN3_CODER_CALL = ("<tool_call>\n<function=read_file>\n<parameter=path>\nsrc/main.py\n"
                    "</parameter>\n</function>\n</tool_call>")


@pytest.fixture
def ctl():
    return Controller(FakeCache(), Settings(PolicyConfig()), capacity_tokens=10_000,
                      clock=Clock())


def _turn(ctl, r):
    ctl.on_queued(r, False)
    ctl.on_admitted(r)
    ctl.on_release(r, checkpointed=True)
    return r.customized_info["continuum"][0]


def test_feedback_names_program_lock_and_hit(ctl):
    fb = _turn(ctl, req("r1", "prog-1", n_in=100, n_out=10, ttl="30s"))
    assert fb == {"program": "prog-1", "keyed_by": "program_id", "lock_hit": False,
                  "lock": {"ttl_s": 30.0, "tokens": 110}, "decision": "hint"}
    fb = _turn(ctl, req("r2", "prog-1", n_in=120, last=True))
    assert fb["lock_hit"] is True and fb["lock"] is None and fb["decision"] == "last_turn"


def test_feedback_of_a_plain_request(ctl):
    ctl.inference = None  # program inference off: a plain request stays plain
    fb = _turn(ctl, req("r1"))
    assert fb == {"program": None, "keyed_by": None, "lock_hit": False, "lock": None,
                  "decision": None}


def test_feedback_bounds_the_id_and_names_the_convention_field(ctl):
    r = req("r1")
    r.sampling_params.custom_params = {"prompt_cache_key": "k" * 100}
    fb = _turn(ctl, r)
    assert fb["keyed_by"] == "prompt_cache_key" and fb["program"] == "k" * 32


class Tokenizer:
    def __init__(self, text):
        self.text = text

    def decode(self, ids):
        return self.text


def _attach(ctl, text, parser):
    ctl.attach(SimpleNamespace(tokenizer=Tokenizer(text),
                               server_args=SimpleNamespace(tool_call_parser=parser)))


def test_tool_names_come_from_the_servers_detector(ctl):
    pytest.importorskip("sglang.srt.function_call.function_call_parser")
    _attach(ctl, QWEN3_CODER_CALL, "qwen3_coder")
    assert ctl._detect_tool(req("r1", "p")) == "read_file"
    _attach(ctl, QWEN3_CODER_CALL, None)  # no --tool-call-parser: the core's rules only
    assert ctl._detect_tool(req("r1", "p")) != "read_file"


def test_the_core_rules_remain_the_fallback(ctl):
    pytest.importorskip("sglang.srt.function_call.function_call_parser")
    _attach(ctl, "Running it.\n```bash\npytest -q\n```", "qwen3_coder")
    assert ctl._detect_tool(req("r1", "p")) == "pytest"
