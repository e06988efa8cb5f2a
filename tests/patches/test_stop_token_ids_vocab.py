"""patches/0014: stop token ids outside the vocabulary are refused by
``SamplingParams.verify`` (HTTP 400) instead of reaching the min_new_tokens penalizer,
whose ``scatter_add_`` then kills the scheduler; the end-to-end check is in
tests/e2e/test_fuzz.py."""

from __future__ import annotations

import pytest

pytest.importorskip("sglang")

VOCAB = 2048


def _verify(**fields):
    from sglang.srt.sampling.sampling_params import SamplingParams

    SamplingParams(max_new_tokens=4, **fields).verify(VOCAB)


@pytest.mark.parametrize("ids, bad", [([4096], 4096), ([5, VOCAB], VOCAB), ([-1], -1)])
def test_out_of_vocabulary_stop_ids_are_a_value_error_naming_field_and_range(ids, bad):
    with pytest.raises(ValueError) as err:
        _verify(stop_token_ids=ids, min_new_tokens=1)
    assert f"stop_token_ids must hold token ids in [0, {VOCAB}), got {bad}." == str(err.value)


@pytest.mark.parametrize("ids", [[0], [VOCAB - 1], [5, 6, 7], None, []])
def test_stop_ids_inside_the_vocabulary_pass(ids):
    _verify(stop_token_ids=ids, min_new_tokens=1)
