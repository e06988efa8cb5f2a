import pytest

from sglang_continuum.core import detect_tool

CASES = [
    ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
     "get_weather"),
    ('Let me search.\n<tool_call>\n{"name": "search", "arguments": {"q": "x"}}', "search"),
    ('<tool_call>{"name": "web_search", "arguments": {bad json}</tool_call>', "web_search"),
    ('<tool_call>{"arguments": {}, "name": "late_name"}</tool_call>', "late_name"),
    ('{"id": "call_1", "type": "function", "function": {"name": "lookup", '
     '"arguments": "{}"}}', "lookup"),
    ('[{"type": "function", "function": {"name": "first"}}, '
     '{"type": "function", "function": {"name": "second"}}]', "first"),
    ('{"tool_calls": [{"id": "c", "function": {"name": "x.y", "arguments": "{}"}}]}', "x.y"),
    ('I will call {"name": "grep", "arguments": {"pattern": "a{b}"}} now.', "grep"),
    ('My record is {"name": "Bob", "age": 3}.', None),
    ('{"name": "bad name!", "arguments": {}}', None),
    ('THOUGHT: list files.\n\n```bash\n\n  cd /repo && ls -la\n```\n', "cd"),
    ("```sh\npython3 run.py\n```", "python3"),
    ("```bash\nls\n```\nand\n```bash\npwd\n```", None),
    ("```python\nprint(1)\n```", None),
    ("```bash\n\n\n```", None),
    ('<tool_call>{"name": "submit", "arguments": {}}</tool_call>\n```bash\nls\n```',
     "submit"),
    ('Use {"name": "grep"} then\n```bash\nfind . -name x\n```', "find"),
    ("The answer is 42.", None),
    ("", None),
    ("{" * 5000 + '"', None),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_detect_tool(text, expected):
    assert detect_tool(text) == expected
