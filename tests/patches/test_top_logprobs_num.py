"""patches/0006: top_logprobs_num above the vocabulary size is refused with a ValueError
(HTTP 400) naming the field and the range, before the request reaches the scheduler.

Without the patch such a request with input logprobs reaches ``torch.topk`` in the
scheduler's forward pass ("selected index k out of range") and the scheduler exits;
the end-to-end check is in tests/e2e/test_fuzz.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("sglang")

VOCAB = 2048


def _check(return_logprob, num):
    from sglang.srt.managers.tokenizer_manager import TokenizerManager

    manager = SimpleNamespace(model_config=SimpleNamespace(vocab_size=VOCAB))
    obj = SimpleNamespace(return_logprob=return_logprob, top_logprobs_num=num)
    TokenizerManager._validate_top_logprobs_num(manager, obj)


@pytest.mark.parametrize("num", [VOCAB + 1, 10**6, 2**63, -1, 1.5, "5", True])
def test_out_of_range_top_logprobs_num_is_a_value_error(num):
    with pytest.raises(ValueError) as err:
        _check(True, num)
    assert f"top_logprobs_num must be an integer in [0, {VOCAB}]" in str(err.value)


@pytest.mark.parametrize("num", [0, 1, 20, VOCAB, None])
def test_in_range_top_logprobs_num_is_accepted(num):
    _check(True, num)


def test_ignored_without_return_logprob():
    _check(False, 10**6)
