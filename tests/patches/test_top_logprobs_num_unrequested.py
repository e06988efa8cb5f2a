"""patches/0019: top_logprobs_num is bounded whatever return_logprob says, and a request
that does not ask for logprobs reaches the scheduler with top_logprobs_num 0.

The scheduler takes one top-k, of the largest top_logprobs_num of the batch, over every
forward batch in which any request asks for logprobs, counting the requests that did
not ask. Without the patch a request with ``return_logprob`` false and
``top_logprobs_num`` above the vocabulary size passed the admission check (patch 0006
checks only requests that ask) and killed the scheduler ("selected index k out of
range" in ``torch.topk``) as soon as a logprob request shared its batch. These tests
drive ``TokenizerManager._create_tokenized_object``, the step that builds what the
scheduler receives; the end-to-end check is in tests/e2e/test_fuzz.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("sglang")

VOCAB = 2048
MESSAGE = f"top_logprobs_num must be an integer in [0, {VOCAB}]"


@pytest.fixture()
def tokenize(monkeypatch):
    """Build the scheduler's request from a GenerateReqInput on a manager with only the
    attributes that step reads (no model, no server context)."""
    from sglang.srt.managers import tokenizer_manager as tm
    from sglang.srt.managers.io_struct import TokenizedGenerateReqInput
    from sglang.srt.sampling.sampling_params import SamplingParams

    # Both read the server's published configuration, which a unit test has not got.
    monkeypatch.setattr(tm, "_validate_watermark_request", lambda params: None)
    monkeypatch.setattr(tm, "get_disagg",
                        lambda: SimpleNamespace(disaggregation_transfer_backend="none"))
    manager = object.__new__(tm.TokenizerManager)
    manager.preferred_sampling_params = None
    manager.sampling_params_class = SamplingParams
    manager.tokenizer = None
    manager.model_config = SimpleNamespace(vocab_size=VOCAB)
    manager.tokenized_generate_req_type = TokenizedGenerateReqInput
    manager.fake_bootstrap_room_counter = 0
    stats = SimpleNamespace(set_tokenize_finish_time=lambda: None)

    def run(obj):
        manager.rid_to_state = {obj.rid: SimpleNamespace(time_stats=stats)}
        return manager._create_tokenized_object(obj, None, list(obj.input_ids))

    return run


def _request(**fields):
    from sglang.srt.managers.io_struct import GenerateReqInput

    obj = GenerateReqInput(input_ids=[11, 12, 13], sampling_params={"max_new_tokens": 1},
                           **fields)
    obj.normalize_batch_and_arguments()
    return obj


@pytest.mark.parametrize("num", [VOCAB + 1, 100000, 2**63, -1, 1.5, "5", True, [3]])
def test_out_of_range_top_logprobs_num_without_return_logprob_is_a_value_error(
        tokenize, num):
    with pytest.raises(ValueError) as err:
        tokenize(_request(return_logprob=False, top_logprobs_num=num))
    assert MESSAGE in str(err.value)


@pytest.mark.parametrize("num", [1, 5, VOCAB])
def test_ignored_top_logprobs_num_reaches_the_scheduler_as_zero(tokenize, num):
    sent = tokenize(_request(return_logprob=False, top_logprobs_num=num))
    assert not sent.return_logprob
    assert sent.top_logprobs_num == 0


@pytest.mark.parametrize("num", [0, 1, 5, VOCAB])
def test_requested_top_logprobs_num_reaches_the_scheduler_unchanged(tokenize, num):
    sent = tokenize(_request(return_logprob=True, top_logprobs_num=num))
    assert sent.return_logprob
    assert sent.top_logprobs_num == num


def test_an_unset_top_logprobs_num_is_zero(tokenize):
    assert tokenize(_request(return_logprob=False)).top_logprobs_num == 0
    assert tokenize(_request(return_logprob=True)).top_logprobs_num == 0


def test_each_request_of_a_batch_is_checked_and_cleared_on_its_own(tokenize):
    """A native batch: the first prompt asks for 3 top logprobs, the second does not ask
    and carries a value above the vocabulary (one HTTP request put both in one forward
    batch and killed the scheduler)."""
    from sglang.srt.managers.io_struct import GenerateReqInput

    batch = GenerateReqInput(input_ids=[[11, 12, 13], [14, 15, 16]],
                             sampling_params={"max_new_tokens": 1},
                             return_logprob=[True, False], top_logprobs_num=[3, 100000])
    batch.normalize_batch_and_arguments()
    assert tokenize(batch[0]).top_logprobs_num == 3
    with pytest.raises(ValueError) as err:
        tokenize(batch[1])
    assert MESSAGE in str(err.value)
