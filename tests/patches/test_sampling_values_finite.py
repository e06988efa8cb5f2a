"""patches/0016: sampling values that cannot give finite probabilities are refused by
``SamplingParams.verify`` (HTTP 400 at the edge) with a message naming the field and the
accepted range.

Without the patch verify accepts them and the scheduler dies: ``repetition_penalty``
1e-320 is 0 in float32, positive logits become inf, softmax NaN and
``torch.multinomial`` raises; ``top_k`` 2**31 overflows the int32 top_ks tensor. The
server-level case (the request gets 400, the server keeps serving) is in
tests/e2e/test_bad_input.py."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sglang")

VOCAB = 2048

# (field, value, the accepted-range text the 400 must carry)
REFUSED = [
    ("repetition_penalty", 1e-320, "repetition_penalty must be in [1e-06, 2]"),
    ("repetition_penalty", 5e-324, "repetition_penalty must be in [1e-06, 2]"),
    ("repetition_penalty", 1e-30, "repetition_penalty must be in [1e-06, 2]"),
    ("repetition_penalty", float("nan"), "repetition_penalty must be in [1e-06, 2]"),
    ("repetition_penalty", 0.0, "repetition_penalty must be in [1e-06, 2]"),
    ("repetition_penalty", -0.0, "repetition_penalty must be in [1e-06, 2]"),
    ("temperature", 1e308, "temperature must be in [0, 1e+06]"),
    ("temperature", 3.5e38, "temperature must be in [0, 1e+06]"),
    ("temperature", float("inf"), "temperature must be in [0, 1e+06]"),
    ("temperature", float("nan"), "temperature must be in [0, 1e+06]"),
    ("temperature", -5e-324, "temperature must be in [0, 1e+06]"),
    ("top_k", 2**31, "top_k must be -1 (disable) or in [1, 1073741824]"),
    ("top_k", 2**63, "top_k must be -1 (disable) or in [1, 1073741824]"),
    ("top_k", float("nan"), "top_k must be -1 (disable) or in [1, 1073741824]"),
    ("top_k", 0, "top_k must be -1 (disable) or in [1, 1073741824]"),
    ("top_p", float("nan"), "top_p must be in (0, 1]"),
    ("min_p", float("nan"), "min_p must be in [0, 1]"),
    ("frequency_penalty", float("inf"), "frequency_penalty must be in [-2, 2]"),
    ("presence_penalty", -1e308, "presence_penalty must be in [-2, 2]"),
    ("logit_bias", {"5": 1e308}, "logit_bias values must be numbers in [-1e+10, 1e+10]"),
    ("logit_bias", {"5": float("nan")}, "logit_bias values must be numbers"),
    ("logit_bias", {"5": "abc"}, "logit_bias values must be numbers"),
    ("logit_bias", {"5": None}, "logit_bias values must be numbers"),
]


def _verify(**fields):
    from sglang.srt.sampling.sampling_params import SamplingParams

    SamplingParams(max_new_tokens=4, **fields).verify(VOCAB)


@pytest.mark.parametrize("field,value,accepted", REFUSED,
                         ids=[f"{f}={v!r}"[:40] for f, v, _ in REFUSED])
def test_value_without_finite_probabilities_is_refused_naming_the_field(field, value,
                                                                         accepted):
    with pytest.raises(ValueError) as err:
        _verify(**{field: value})
    assert accepted in str(err.value)


@pytest.mark.parametrize("fields", [
    {"repetition_penalty": 1e-6}, {"repetition_penalty": 2.0}, {"repetition_penalty": 1.0},
    {"temperature": 0.0}, {"temperature": 1e-320}, {"temperature": -0.0},
    {"temperature": 1e6}, {"top_k": -1}, {"top_k": 1}, {"top_k": 1 << 30},
    {"top_p": 1e-320}, {"min_p": 1e-320}, {"frequency_penalty": 5e-324},
    {"logit_bias": {"5": -1e10, "6": 1e10, "7": 0}},
])
def test_values_in_range_are_accepted(fields):
    _verify(**fields)


def test_messages_quote_a_bounded_prefix_of_the_value():
    with pytest.raises(ValueError) as err:
        _verify(top_k=10**5000)
    assert len(str(err.value)) < 120 and "bits" in str(err.value)


def test_the_extreme_accepted_values_give_finite_probabilities():
    """The bounds are safe: the smallest penalty and temperature over logits far larger
    than a model produces still give finite probabilities, through SGLang's own
    penalty function, in float32 as the sampler runs."""
    from sglang.srt.sampling.penaltylib.repetition_penalty import apply_scaling_penalties
    from sglang.srt.sampling.sampling_params import (
        _MAX_ABS_LOGIT_BIAS,
        _MIN_REPETITION_PENALTY,
        _SAMPLING_EPS,
    )

    logits = torch.linspace(-1e4, 1e4, VOCAB, dtype=torch.float32).view(1, -1)
    penalties = torch.full_like(logits, _MIN_REPETITION_PENALTY)
    apply_scaling_penalties(logits, penalties)
    logits[0, 0] += _MAX_ABS_LOGIT_BIAS
    logits.div_(torch.tensor([[_SAMPLING_EPS]], dtype=torch.float32))
    probs = torch.softmax(logits, dim=-1)
    assert torch.isfinite(probs).all()
    torch.multinomial(probs, num_samples=1)  # the call that raised in the scheduler


def test_the_refused_penalty_gives_nan_probabilities():
    """Why 1e-320 is refused: the same pipeline gives NaN (what killed the scheduler)."""
    from sglang.srt.sampling.penaltylib.repetition_penalty import apply_scaling_penalties

    logits = torch.tensor([[1.0, 2.0, -1.0, 0.5]], dtype=torch.float32)
    apply_scaling_penalties(logits, torch.full_like(logits, 1e-320))
    assert torch.isnan(torch.softmax(logits, dim=-1)).any()
