"""patches/0001: RotaryEmbedding builds on a CPU-only machine and rotates correctly.

Without the patch the constructor imports vllm._custom_ops and raises ImportError."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def test_patches_are_applied_to_the_installed_sglang():
    from sglang_continuum.server.patching import patch_files, site_root, state

    assert patch_files(), "no patches found"
    root = site_root()
    assert {p.name: state(p, root) for p in patch_files()} == \
        {p.name: "applied" for p in patch_files()}


def _reference_neox(q, pos, head, base):
    inv = 1.0 / (base ** (torch.arange(0, head, 2, dtype=torch.float32) / head))
    freqs = pos.float()[:, None] * inv[None, :]
    cos, sin = freqs.cos()[:, None, :], freqs.sin()[:, None, :]
    x = q.view(q.shape[0], -1, head).float()
    x1, x2 = x[..., : head // 2], x[..., head // 2:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).view_as(q)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the patch is about CPU-only machines")
def test_rotary_embedding_builds_and_matches_reference_on_cpu():
    from sglang.srt.layers.rotary_embedding.base import RotaryEmbedding

    head, base = 64, 10000
    rope = RotaryEmbedding(head_size=head, rotary_dim=head, max_position_embeddings=256,
                           base=base, is_neox_style=True, dtype=torch.float32)
    assert rope.use_fallback_kernel is False
    pos = torch.arange(7)
    q = torch.randn(7, 2 * head)
    k = torch.randn(7, 2 * head)
    q_out, k_out = rope.forward_native(pos, q.clone(), k.clone())
    torch.testing.assert_close(q_out.float(), _reference_neox(q, pos, head, base),
                               rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(k_out.float(), _reference_neox(k, pos, head, base),
                               rtol=1e-4, atol=1e-4)
