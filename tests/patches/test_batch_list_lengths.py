"""patches/0003: a native batch whose per-prompt lists do not match the number of
prompts is refused with a ValueError (HTTP 400) naming the field.

Without the patch these requests raise IndexError while the batch is split, which the
HTTP server answers with a bare 500 (found by ``python -m sglang_continuum.fuzz``)."""

from __future__ import annotations

import pytest

pytest.importorskip("sglang")

SP = {"max_new_tokens": 2}

# (request fields, text the message must hold)
MISMATCHED = [
    ({"input_ids": [11, 12], "sampling_params": []}, "sampling_params should be an object"),
    ({"input_ids": [11, 12], "sampling_params": [SP]}, "sampling_params should be an object"),
    ({"input_ids": [[11], [12]], "sampling_params": [SP]},
     "sampling_params has 1 entries for a batch of 2 prompts"),
    ({"input_ids": [[11], [12]], "sampling_params": []},
     "sampling_params has 0 entries for a batch of 2 prompts"),
    ({"text": ["a", "b", "c"], "sampling_params": [SP, SP]},
     "sampling_params has 2 entries for a batch of 3 prompts"),
    ({"input_ids": [[11], [12]], "sampling_params": SP, "return_logprob": [True]},
     "return_logprob has 1 entries"),
    ({"input_ids": [[11], [12]], "sampling_params": SP, "logprob_start_len": [0, 0, 0]},
     "logprob_start_len has 3 entries"),
    ({"input_ids": [[11], [12]], "sampling_params": SP, "top_logprobs_num": [1]},
     "top_logprobs_num has 1 entries"),
    ({"input_ids": [[11], [12]], "sampling_params": SP, "token_ids_logprob": [[1]]},
     "token_ids_logprob has 1 lists"),
    ({"input_ids": [[11], [12]], "sampling_params": SP, "lora_path": ["x"]},
     "lora_path has 1 entries"),
    ({"input_ids": [[11], [12]], "sampling_params": SP, "custom_logit_processor": ["x"]},
     "custom_logit_processor has 1 entries"),
    ({"input_ids": [[11], [12]], "sampling_params": SP, "bootstrap_host": ["h"]},
     "bootstrap_host has 1 entries"),
    ({"input_ids": [[11], [12]], "sampling_params": SP, "decode_tp_size": [1]},
     "decode_tp_size has 1 entries"),
]


def _normalized(**fields):
    from sglang.srt.managers.io_struct import GenerateReqInput

    req = GenerateReqInput(**fields)
    req.normalize_batch_and_arguments()
    return req


@pytest.mark.parametrize("fields,message", MISMATCHED, ids=[m[:40] for _, m in MISMATCHED])
def test_mismatched_per_prompt_list_is_a_value_error_naming_the_field(fields, message):
    with pytest.raises(ValueError) as err:
        req = _normalized(**fields)
        [req[i] for i in range(req.batch_size)]  # unpatched: IndexError here
    assert message in str(err.value)


@pytest.mark.parametrize("fields", [
    {"input_ids": [[11], [12]], "sampling_params": [SP, SP], "return_logprob": [True, False],
     "top_logprobs_num": [1, 0], "logprob_start_len": [0, -1],
     "token_ids_logprob": [[1], [2]]},
    {"input_ids": [[11], [12]], "sampling_params": SP, "return_logprob": True,
     "token_ids_logprob": [1, 2]},
    {"text": ["a", "b"], "sampling_params": {**SP, "n": 2}},
    {"input_ids": [11, 12], "sampling_params": SP},
    {"text": [], "sampling_params": []},
])
def test_well_formed_batches_are_unchanged(fields):
    req = _normalized(**fields)
    if not req.is_single:
        subs = [req[i] for i in range(len(req.rid))]
        assert all(isinstance(s.sampling_params, dict) for s in subs)
