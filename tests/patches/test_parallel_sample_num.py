"""patches/0005: ``n`` (parallel samples) must be an integer in [1, 1024]; anything else
is a ValueError (HTTP 400) naming n and the accepted range, raised before any request
reaches the scheduler.

Without the patch n = 2**63 raises OverflowError (HTTP 500), n = 1.5 or null a
TypeError (HTTP 500), and n = 0 is served or fails later with an unrelated message."""

from __future__ import annotations

import pytest

pytest.importorskip("sglang")


def _normalized(**fields):
    from sglang.srt.managers.io_struct import GenerateReqInput

    req = GenerateReqInput(**fields)
    req.normalize_batch_and_arguments()
    return req


@pytest.mark.parametrize("n", [0, -1, 1.5, None, True, "2", 1025, 10**6, 2**63, -(2**63)])
@pytest.mark.parametrize("batch", [False, True])
def test_bad_n_is_a_value_error_naming_n_and_the_range(n, batch):
    ids = [[11], [12]] if batch else [11, 12]
    with pytest.raises(ValueError) as err:
        _normalized(input_ids=ids, sampling_params={"max_new_tokens": 1, "n": n})
    assert "n (parallel samples) must be an integer in [1, 1024]" in str(err.value)


def test_bad_n_in_a_list_of_sampling_params_is_refused():
    with pytest.raises(ValueError, match=r"n \(parallel samples\)"):
        _normalized(input_ids=[[11], [12]],
                    sampling_params=[{"n": 2}, {"n": 0}])


@pytest.mark.parametrize("n", [1, 2, 8, 1024])
def test_n_in_range_expands_as_before(n):
    req = _normalized(text="hi", sampling_params={"max_new_tokens": 1, "n": n})
    assert req.parallel_sample_num == n
    assert len(req.text) == n if n > 1 else req.is_single
