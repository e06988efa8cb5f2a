"""patches/0012: HiCache's host tier on the CPU device.

Without the patch, building a host KV pool next to a CPU device pool pins its memory
through CUDA ("Found no NVIDIA driver") and the direct io ops are not importable off
CUDA/HIP/XPU. With it, the direct io backend moves KV between the device pool and the
host pool with plain torch indexing, bit for bit, and the argument hook resolves or
refuses the HiCache flags that have no CPU op. The server-level check (a prefix evicted
from the device pool is served from host memory) is in tests/e2e/test_host_tier.py,
which shares one server with the demote-not-drop test."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.skipif(torch.cuda.is_available(),
                                reason="the patch is about the CPU device")

PAGE = 4
LAYERS = 3


@pytest.fixture
def published(request):
    """Publish server args (the host pools read the io backend from them)."""
    from sglang.srt.runtime_context import get_context
    from sglang.srt.server_args import ServerArgs

    def publish(io_backend: str, layout: str):
        get_context().set_server_args(ServerArgs(
            model_path="unused", device="cpu", hicache_io_backend=io_backend,
            hicache_mem_layout=layout))

    return publish


def _pools(layout: str):
    from sglang.srt.mem_cache.hybrid_cache.hybrid_pool_assembler import _mha_host_inputs
    from sglang.srt.mem_cache.memory_pool import MHATokenToKVPool

    device = MHATokenToKVPool(size=64, page_size=PAGE, dtype=torch.bfloat16, head_num=2,
                              head_dim=8, layer_num=LAYERS, device="cpu",
                              enable_memory_saver=False)
    cls, info, kwargs = _mha_host_inputs(device)
    host = cls(info, 2.0, 0, PAGE, layout, **kwargs)
    return device, host


def _tokens(pages: list[int]) -> torch.Tensor:
    return torch.tensor([p * PAGE + i for p in pages for i in range(PAGE)], dtype=torch.int64)


@pytest.mark.parametrize("layout", ["layer_first", "page_first_direct"])
def test_device_host_device_round_trip_is_bit_exact(published, layout):
    published("direct", layout)
    device, host = _pools(layout)
    assert device.k_buffer[0].device.type == "cpu"
    gen = torch.Generator().manual_seed(0)
    for buf in (*device.k_buffer, *device.v_buffer):
        buf.copy_(torch.randn(buf.shape, generator=gen).to(buf.dtype))
    src, back = _tokens([2, 5, 3]), _tokens([9, 1, 12])
    host_slots = _tokens([7, 0, 4])
    before = [b.clone() for b in (*device.k_buffer, *device.v_buffer)]

    host.backup_from_device_all_layer(device, host_slots, src, "direct")
    for layer in range(LAYERS):
        host.load_to_device_per_layer(device, host_slots, back, layer, "direct")

    after = (*device.k_buffer, *device.v_buffer)
    for old, new in zip(before, after):
        assert torch.equal(new[back], old[src])  # bit-exact, every layer, K and V
        untouched = torch.ones(new.shape[0], dtype=torch.bool)
        untouched[back] = False
        assert torch.equal(new[untouched], old[untouched])


def test_kernel_io_backend_is_refused_by_name_on_cpu(published):
    published("kernel", "page_first")
    with pytest.raises(ValueError, match="--hicache-io-backend direct"):
        _pools("page_first")


def _resolved(*flags: str):
    """The server args as the argument hooks resolved them (before publication)."""
    from sglang.srt.arg_groups.overrides import resolving_view
    from sglang.srt.server_args import prepare_server_args

    from sglang_continuum.server.tiny_model import ensure

    args = prepare_server_args([
        "--model-path", str(ensure()), "--device", "cpu", "--enable-hierarchical-cache",
        "--hicache-ratio", "2", *flags])
    args.resolve_once()  # what a launcher does; runs the argument hooks
    return resolving_view(args)


def test_cpu_device_resolves_to_the_direct_io_backend():
    args = _resolved()
    assert (args.hicache_io_backend, args.hicache_mem_layout) == \
        ("direct", "page_first_direct")


@pytest.mark.parametrize("flags, named", [
    (["--hicache-mem-layout", "page_head"], "--hicache-mem-layout page_head"),
    (["--hicache-io-backend", "kernel_ascend"], "--hicache-io-backend kernel_ascend"),
])
def test_combinations_without_a_cpu_op_are_refused(flags, named):
    with pytest.raises(ValueError, match=named):
        _resolved(*flags)
