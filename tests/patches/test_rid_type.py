"""patches/0018: a rid that is not a string is a ValueError (HTTP 400) at
normalization. Without the patch a single request's ``"rid": []`` passes and fails in
the tokenizer manager's rid table with a TypeError (HTTP 500)."""

from __future__ import annotations

import pytest

pytest.importorskip("sglang")


def _normalized(**fields):
    from sglang.srt.managers.io_struct import GenerateReqInput

    req = GenerateReqInput(**fields)
    req.normalize_batch_and_arguments()
    return req


@pytest.mark.parametrize("rid", [[], ["a"], 7, {"a": 1}])
def test_a_single_request_needs_a_string_rid(rid):
    with pytest.raises(ValueError, match="rid must be a string for a single request"):
        _normalized(text="hi", rid=rid, sampling_params={"max_new_tokens": 1})


def test_a_batch_needs_a_list_of_string_rids():
    with pytest.raises(ValueError, match="rid should be a string or a list of strings"):
        _normalized(text=["a", "b"], rid=[["x"], "y"], sampling_params={"max_new_tokens": 1})


@pytest.mark.parametrize("fields", [
    {"text": "hi", "rid": "r1"}, {"text": "hi"}, {"text": ["a", "b"], "rid": ["x", "y"]},
    {"text": ["a", "b"], "rid": "x"}])
def test_string_rids_are_unchanged(fields):
    req = _normalized(sampling_params={"max_new_tokens": 1}, **fields)
    rids = [req.rid] if isinstance(req.rid, str) else req.rid
    assert all(isinstance(r, str) for r in rids)
