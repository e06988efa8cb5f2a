"""patches/0009: the client-disconnect abort task of a streamed request that was refused
before normalization (so has no ``is_single``) ends quietly instead of raising
AttributeError in a background task; normalized requests are aborted as before."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from unittest import mock

import pytest

pytest.importorskip("sglang")


def _run_abort_task(obj, live_rids):
    from sglang.srt.managers.tokenizer_manager import TokenizerManager

    aborted = []
    manager = SimpleNamespace(rid_to_state=dict.fromkeys(live_rids),
                              abort_request=aborted.append)
    background = TokenizerManager.create_abort_task(manager, obj)
    real_sleep = asyncio.sleep
    with mock.patch("asyncio.sleep", new=lambda s: real_sleep(0)):  # not the 2 s grace
        asyncio.run(background.tasks[0].func())
    return aborted


def test_refused_request_without_is_single_is_a_no_op():
    from sglang.srt.managers.io_struct import GenerateReqInput

    obj = GenerateReqInput(input_ids=[[], [11]], sampling_params={"max_new_tokens": 1})
    assert not hasattr(obj, "is_single")  # never normalized
    assert _run_abort_task(obj, live_rids=[]) == []


@pytest.mark.parametrize("ids,batch", [([11, 12], False), ([[11], [12]], True)])
def test_normalized_requests_are_aborted_as_before(ids, batch):
    from sglang.srt.managers.io_struct import GenerateReqInput

    obj = GenerateReqInput(input_ids=ids, sampling_params={"max_new_tokens": 1}, stream=True)
    obj.normalize_batch_and_arguments()
    rids = obj.rid if batch else [obj.rid]
    assert _run_abort_task(obj, live_rids=rids) == rids
