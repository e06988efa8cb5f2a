"""patches/0004: an empty prompt inside an input_ids batch is refused with a ValueError
(HTTP 400) naming its index.

Without the patch the request normalizes fine, reaches the scheduler and kills it
(AssertionError in release_kv_cache); the end-to-end check is in tests/e2e/test_fuzz.py."""

from __future__ import annotations

import pytest

pytest.importorskip("sglang")

SP = {"max_new_tokens": 1}


def _normalized(**fields):
    from sglang.srt.managers.io_struct import GenerateReqInput

    req = GenerateReqInput(**fields)
    req.normalize_batch_and_arguments()
    return req


@pytest.mark.parametrize("ids,message", [
    ([[], [11]], "input_ids[0] is an empty list"),
    ([[11], []], "input_ids[1] is an empty list"),
    ([[11], [12], []], "input_ids[2] is an empty list"),
    ([[11], 5], "input_ids[1] is 5"),
])
def test_empty_or_non_list_prompt_in_a_batch_is_a_value_error(ids, message):
    with pytest.raises(ValueError) as err:
        _normalized(input_ids=ids, sampling_params=SP)
    assert message in str(err.value)
    assert "non-empty list of token ids" in str(err.value)


def test_empty_prompt_with_parallel_samples_is_refused_too():
    with pytest.raises(ValueError, match=r"input_ids\[0\] is an empty list"):
        _normalized(input_ids=[[], [11]], sampling_params={**SP, "n": 2})


def test_well_formed_batch_is_unchanged():
    req = _normalized(input_ids=[[11], [12, 13]], sampling_params=SP)
    assert [req[i].input_ids for i in range(2)] == [[11], [12, 13]]
