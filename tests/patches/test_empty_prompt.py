"""patches/0013: a prompt that is empty after tokenization is refused with a ValueError
(HTTP 400) before it reaches the scheduler.

Without the patch ``{"text": ""}`` on a tokenizer that adds no BOS token (the embedded
tiny model's, like Qwen's) is a zero-token prefill that kills the scheduler; the
end-to-end check is in tests/e2e/test_fuzz.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("sglang")


def _check(input_ids, **fields):
    from sglang.srt.managers.tokenizer_manager import TokenizerManager

    obj = SimpleNamespace(input_embeds=None, session_params=None, **fields)
    TokenizerManager._validate_prompt_not_empty(obj, input_ids)


def test_zero_tokens_is_a_value_error_naming_the_fix():
    with pytest.raises(ValueError, match="The prompt is empty: the input tokenized to 0 tokens"):
        _check([])


@pytest.mark.parametrize("ids, fields", [
    ([11], {}),
    (None, {}),  # input_embeds requests carry no ids
    ([], {"input_embeds": [[0.0] * 4]}),
    ([], {"session_params": {"id": "s1"}}),  # the session's history supplies the prompt
])
def test_non_empty_prompts_and_session_continuations_pass(ids, fields):
    from sglang.srt.managers.tokenizer_manager import TokenizerManager

    obj = SimpleNamespace(**{"input_embeds": None, "session_params": None, **fields})
    TokenizerManager._validate_prompt_not_empty(obj, ids)


def test_the_tiny_models_tokenizer_really_makes_zero_tokens_of_empty_text():
    """What makes the e2e case meaningful: "" is [] for the embedded model."""
    from transformers import AutoTokenizer

    from sglang_continuum.server.tiny_model import ensure

    tok = AutoTokenizer.from_pretrained(str(ensure()))
    assert tok("")["input_ids"] == []
