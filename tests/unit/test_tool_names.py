"""Tool names through SGLang's own detectors (``--tool-call-parser NAME``), one output
per format family, with no request ``tools`` list (the scheduler has none)."""

from __future__ import annotations

import pytest

pytest.importorskip("sglang.srt.function_call.function_call_parser")

from sglang_continuum.adapter.tool_names import ToolNames, tool_names_for  # noqa: E402
from sglang_continuum.core import detect_tool  # noqa: E402

ARGS = '{"path": "src/main.py"}'

# (--tool-call-parser, a finished output calling read_file) per format family.
OUTPUTS = [
    ("hermes", f'Let me look.\n<tool_call>\n{{"name": "read_file", "arguments": {ARGS}}}\n'
               "</tool_call>"),
    ("qwen25", f'<tool_call>\n{{"name": "read_file", "arguments": {ARGS}}}\n</tool_call>'),
    ("llama3", f'<|python_tag|>{{"name": "read_file", "parameters": {ARGS}}}'),
    ("qwen3_coder", "<tool_call>\n<function=read_file>\n<parameter=path>\nsrc/main.py\n"
                    "</parameter>\n</function>\n</tool_call>"),
    ("deepseekv3", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>read_file\n"
                   f"```json\n{ARGS}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"),
    ("deepseekv31", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>read_file<｜tool▁sep｜>"
                    f"{ARGS}<｜tool▁call▁end｜><｜tool▁calls▁end｜>"),
    ("kimi_k2", "<|tool_calls_section_begin|><|tool_call_begin|>functions.read_file:0"
                f"<|tool_call_argument_begin|>{ARGS}<|tool_call_end|>"
                "<|tool_calls_section_end|>"),
    ("glm45", "<tool_call>read_file\n<arg_key>path</arg_key>\n<arg_value>src/main.py"
              "</arg_value>\n</tool_call>"),
    ("glm47", "<tool_call>read_file<arg_key>path</arg_key><arg_value>src/main.py</arg_value>"
              "</tool_call>"),
    ("gpt-oss", "<|channel|>commentary to=functions.read_file <|constrain|>json"
                f"<|message|>{ARGS}<|call|>"),
    ("mistral", f'[TOOL_CALLS] [{{"name": "read_file", "arguments": {ARGS}}}]'),
    ("pythonic", '[read_file(path="src/main.py")]'),
    ("minimax-m2", '<minimax:tool_call>\n<invoke name="read_file">\n<parameter name="path">'
                   "src/main.py</parameter>\n</invoke>\n</minimax:tool_call>"),
    ("step3", "<｜tool_calls_begin｜><｜tool_call_begin｜>function<｜tool_sep｜>"
              '<steptml:invoke name="read_file"><steptml:parameter name="path">src/main.py'
              "</steptml:parameter></steptml:invoke><｜tool_call_end｜><｜tool_calls_end｜>"),
]


@pytest.mark.parametrize("parser, output", OUTPUTS, ids=[p for p, _ in OUTPUTS])
def test_each_format_family_names_the_tool(parser, output):
    assert ToolNames(parser)(output) == "read_file"


# Formats the core's own rules miss: the detector is what names them.
@pytest.mark.parametrize("parser", ["qwen3_coder", "deepseekv3", "deepseekv31", "kimi_k2",
                                    "glm45", "gpt-oss", "minimax-m2", "step3"])
def test_the_core_rules_alone_miss_these(parser):
    assert detect_tool(dict(OUTPUTS)[parser]) != "read_file"


def test_plain_text_names_no_tool():
    for parser in ("hermes", "qwen3_coder", "gpt-oss", "kimi_k2"):
        assert ToolNames(parser)("The tests pass; nothing else to do.") is None


def test_an_invalid_name_is_not_returned():
    bad = '<tool_call>\n{"name": "rm -rf /", "arguments": {}}\n</tool_call>'
    assert ToolNames("hermes")(bad) is None


def test_no_parser_or_an_unknown_one_falls_back_to_the_core():
    assert tool_names_for(None) is None
    assert tool_names_for("") is None
    assert tool_names_for("no-such-parser") is None
