"""patches/0015: the TP group's default ``use_pynccl`` requires a device PyNccl can
drive. Without the patch ``init_model_parallel_group`` asks for PyNccl on a machine
with no CUDA device, and the server dies at start with ``--tp-size 2`` ("Expected a
cuda device, but got: cpu"). The server-level check is tests/e2e/test_tp2.py."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sglang")


@pytest.fixture
def built(monkeypatch):
    """init_model_parallel_group with GroupCoordinator replaced by a recorder: the
    keyword arguments the group would be built with."""
    from sglang.srt.distributed import parallel_state

    seen: list[dict] = []
    monkeypatch.setattr(parallel_state, "GroupCoordinator",
                        lambda **kwargs: seen.append(kwargs))

    def build(cuda: bool, **kwargs) -> dict:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        parallel_state.init_model_parallel_group([[0, 1]], 0, "gloo", **kwargs)
        return seen[-1]

    return build


def _default_platform() -> bool:
    from sglang.srt.distributed import parallel_state

    return not (parallel_state._is_npu or parallel_state._is_xpu
                or parallel_state._is_musa
                or parallel_state.platforms.current_platform.is_out_of_tree())


@pytest.mark.skipif(not _default_platform(), reason="the CUDA/CPU platform decision")
def test_no_pynccl_without_a_cuda_device(built):
    assert built(cuda=False)["use_pynccl"] is False


@pytest.mark.skipif(not _default_platform(), reason="the CUDA/CPU platform decision")
def test_pynccl_kept_where_cuda_exists(built):
    assert built(cuda=True)["use_pynccl"] is True


def test_an_explicit_choice_is_kept(built):
    assert built(cuda=False, use_pynccl=True)["use_pynccl"] is True
