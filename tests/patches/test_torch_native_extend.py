"""patches/0010: torch_native's extend attends only the new tokens.

Stock SGLang 0.5.23 builds a query as long as the whole sequence (cached prefix
included) and keeps the new tokens' rows of the result. With the patch SDPA sees
only the new tokens, under a bottom-right-aligned causal mask. The outputs must be
the old path's: float32 within 1e-5 absolute / 1e-4 relative, bfloat16 within 2e-2
(one bf16 rounding of the output)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

HEADS, KV_HEADS, HEAD = 4, 2, 16


def _backend():
    from sglang.srt.layers.attention.torch_native_backend import TorchNativeAttnBackend

    # The extend kernel uses no state of the backend: no model runner is needed.
    return TorchNativeAttnBackend.__new__(TorchNativeAttnBackend)


def _batch(prefixes, news, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    seq = [p + n for p, n in zip(prefixes, news)]
    pool = sum(seq) + 8
    k_cache = torch.randn(pool, KV_HEADS, HEAD, generator=g).to(dtype)
    v_cache = torch.randn(pool, KV_HEADS, HEAD, generator=g).to(dtype)
    # Requests' slots are scattered through the pool, as after evictions.
    slots = torch.randperm(pool, generator=g)
    req_to_token = torch.zeros(len(seq) + 1, max(seq) + 4, dtype=torch.int64)
    at = 0
    for i, n in enumerate(seq):
        req_to_token[i + 1, :n] = slots[at:at + n]
        at += n
    q = torch.randn(sum(news), HEADS, HEAD, generator=g).to(dtype)
    return dict(query=q, k_cache=k_cache, v_cache=v_cache, req_to_token=req_to_token,
                req_pool_indices=torch.arange(1, len(seq) + 1),
                seq_lens=torch.tensor(seq), extend_prefix_lens=torch.tensor(prefixes),
                extend_seq_lens=torch.tensor(news))


def _old_path(b, causal, window=None):
    """Stock 0.5.23's computation: a full-length query (prefix rows garbage), a
    top-left causal (or sliding-window) mask over the whole sequence, new rows kept."""
    out, start = [], 0
    for i in range(len(b["seq_lens"])):
        n, p, s = (int(b["extend_seq_lens"][i]), int(b["extend_prefix_lens"][i]),
                   int(b["seq_lens"][i]))
        q = b["query"][start:start + n].movedim(0, 1)
        full = torch.full((HEADS, s, HEAD), 7.0, dtype=q.dtype)
        full[:, p:] = q
        tokens = b["req_to_token"][b["req_pool_indices"][i], :s]
        k = b["k_cache"][tokens].movedim(0, 1)
        v = b["v_cache"][tokens].movedim(0, 1)
        mask, is_causal = None, causal
        if window is not None:
            pos = torch.arange(s)
            mask = (pos[None] <= pos[:, None]) & (pos[None] >= pos[:, None] - window)
            is_causal = False
        o = F.scaled_dot_product_attention(full[None], k[None], v[None], attn_mask=mask,
                                           is_causal=is_causal, enable_gqa=True)[0]
        out.append(o.movedim(1, 0)[p:])
        start += n
    return torch.cat(out)


def _run(b, causal, window=None):
    out = torch.empty_like(b["query"])
    return _backend()._run_sdpa_forward_extend(
        b["query"], out, b["k_cache"], b["v_cache"], b["req_to_token"],
        b["req_pool_indices"], b["seq_lens"], b["extend_prefix_lens"],
        b["extend_seq_lens"], enable_gqa=True, causal=causal,
        sliding_window_size=window)


TOL = {torch.float32: dict(atol=1e-5, rtol=1e-4), torch.bfloat16: dict(atol=2e-2, rtol=2e-2)}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("prefix", [0, 1, 37, 500])
def test_outputs_equal_the_old_path(prefix, dtype):
    b = _batch([prefix], [23], dtype, seed=prefix)
    torch.testing.assert_close(_run(b, causal=True), _old_path(b, causal=True), **TOL[dtype])


def test_batched_requests_with_different_prefixes_gqa_window_and_noncausal():
    b = _batch([0, 300, 5, 64], [40, 1, 17, 64], torch.float32, seed=3)
    torch.testing.assert_close(_run(b, True), _old_path(b, True), **TOL[torch.float32])
    torch.testing.assert_close(_run(b, True, window=20), _old_path(b, True, window=20),
                               **TOL[torch.float32])
    torch.testing.assert_close(_run(b, False), _old_path(b, False), **TOL[torch.float32])


def test_sdpa_gets_queries_of_the_new_tokens_only(monkeypatch):
    from sglang.srt.layers.attention import torch_native_backend as mod

    seen = []

    def spy(q, k, v, **kw):
        seen.append((q.shape[-2], k.shape[-2]))
        return F.scaled_dot_product_attention(q, k, v, **kw)

    monkeypatch.setattr(mod, "scaled_dot_product_attention", spy)
    _run(_batch([0, 400, 1000], [30, 8, 1], torch.float32), causal=True)
    assert seen == [(30, 30), (8, 408), (1, 1001)]
