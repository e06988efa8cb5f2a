"""The tool a finished output calls, read by SGLang's own tool-call detector.

With ``--tool-call-parser NAME`` the server already knows the format of the model it
serves (Hermes/Qwen ``<tool_call>``, Llama-3 JSON, Qwen3-Coder XML, DeepSeek, Kimi K2,
GLM, gpt-oss harmony, Mistral, ...): the detector of that name
(``sglang.srt.function_call``) names the tool, and the core's own rules
(``core.inference.detect_tool``) remain the fallback. The core only sees the name.

SGLang's detectors drop calls to tools that are not in the request's ``tools`` list;
the scheduler does not have that list, so the detector gets a table of tool indices
that holds every name (the name is what the duration statistics need, and the core
validates it). Detectors keep parsing state, so each output gets a fresh one.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional

from sglang_continuum.core.inference import TOOL_NAME

logger = logging.getLogger(__name__)

# Text the prompt ends with that a detector expects in front of the output: gpt-oss's
# chat template ends the prompt with the start of the assistant's message.
_OUTPUT_PREFIX = {"gpt-oss": "<|start|>assistant"}


class _EveryName(dict):
    """A detector's name -> index table in which every tool name is known."""

    def __contains__(self, name) -> bool:
        return True

    def __getitem__(self, name) -> int:
        return 0

    def get(self, name, default=None) -> int:
        return 0


class _UnknownToolFilter(logging.Filter):
    """Detectors warn about each call to a tool missing from the (here empty) request
    list; in the scheduler that is every call, so the warning says nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is not defined in the tools list" not in record.getMessage()


class ToolNames:
    """``names(text) -> tool name or None`` through SGLang's detector ``parser``."""

    def __init__(self, parser: str, tokenizer=None):
        import inspect

        from sglang.srt.function_call.function_call_parser import FunctionCallParser

        detector_class = FunctionCallParser.ToolCallParserEnum.get(parser)
        if detector_class is None:
            raise ValueError(f"--tool-call-parser {parser!r}: SGLang has no such detector")
        self.parser = parser
        self._detector_class = detector_class
        self._prefix = _OUTPUT_PREFIX.get(parser, "")
        takes_tokenizer = "tokenizer" in inspect.signature(detector_class).parameters
        self._kwargs = {"tokenizer": tokenizer} if takes_tokenizer else {}
        self._detector_class(**self._kwargs)  # one that cannot be built fails here
        logging.getLogger(detector_class.__module__).addFilter(_UnknownToolFilter())

    def __call__(self, text: str) -> Optional[str]:
        detector = self._detector_class(**self._kwargs)
        detector._get_tool_indices = lambda tools: _EveryName()
        if self._prefix and not text.startswith(self._prefix):
            text = self._prefix + text
        result = detector.detect_and_parse(text, [])
        for call in result.calls:
            name = call.name or ""
            if name.startswith("functions."):  # harmony and Kimi namespaces
                name = name[len("functions."):]
            if TOOL_NAME.fullmatch(name):
                return name
        return None


def tool_names_for(parser: Optional[str],
                   tokenizer=None) -> Optional[Callable[[str], Optional[str]]]:
    """The server's detector, or None (no ``--tool-call-parser``, or one SGLang's
    detectors cannot be built for: the core's rules then decide alone)."""
    if not parser:
        return None
    try:
        return ToolNames(parser, tokenizer)
    except Exception as e:  # e.g. a detector that needs a tokenizer: log, fall back
        logger.warning("sglang-continuum: tool names by the core's rules only: the "
                       "detector for --tool-call-parser %s cannot be built here (%s)",
                       parser, e)
        return None
