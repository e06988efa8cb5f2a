"""Hypothesis strategies for the values the request bodies are built from.

Small building blocks only; ``bodies`` assembles them into whole requests per category.
Sizes that Hypothesis cannot draw cheaply (a 100,000-token prompt) are drawn as a length
and a seed and expanded with ``random.Random``, so a case stays reproducible and fast.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import strategies as st

ROUTES = ("/generate", "/v1/completions", "/v1/chat/completions")
LOW_ID = 10  # ids below are special tokens in the tiny model; keep prompts ordinary


@dataclass(frozen=True)
class Limits:
    """What the server under test accepts: the bounds the cases straddle."""

    vocab: int = 2048
    context: int = 16384
    pool: int = 8192
    small_new: int = 8  # max_new_tokens of ordinary cases


def ids_of(n: int, seed: int, vocab: int) -> list[int]:
    rng = random.Random(seed)
    hi = max(LOW_ID + 1, min(vocab, 2000))
    return [rng.randrange(LOW_ID, hi) for _ in range(n)]


def words_of(n_chars: int, seed: int) -> str:
    rng = random.Random(seed)
    words = ("def", "return", "pytest", "grep", "error", "the", "file", "line", "ok", "x")
    out, size = [], 0
    while size < n_chars:
        w = rng.choice(words)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)[:n_chars]


seeds = st.integers(0, 2**32 - 1)
small_new = st.integers(1, 8)
plain_text = st.text(alphabet="abcdefghij klmnop\n.,()=", min_size=1, max_size=60)


def in_vocab_ids(limits: Limits, max_len: int = 64) -> st.SearchStrategy[list[int]]:
    hi = max(LOW_ID + 1, min(limits.vocab, 2000)) - 1
    return st.lists(st.integers(LOW_ID, hi), min_size=1, max_size=max_len)


def oov_id(limits: Limits) -> st.SearchStrategy[int]:
    v = limits.vocab
    return st.sampled_from([v, v + 1, 2 * v, 10**6, 2**31 - 1, 2**31, 2**63 - 1, 2**63,
                            2**64, -1, -2, -v, -(2**63), -(2**64)])


# Every JSON type, for "wrong type" mutations; a few per type, edge values first.
any_json_scalar = st.sampled_from([None, True, False, 0, -1, 1, 2**64, -(2**70), 0.5, -0.0,
                                   1e308, -1e308, "", "1", "x", "null", "true", "\u0000"])
any_json_container = st.sampled_from([[], [None], [1, "a"], [[]], {}, {"a": 1}, {"": None},
                                      [{"role": "user"}]])
any_json = st.one_of(any_json_scalar, any_json_container)

unicode_text = st.one_of(
    st.text(min_size=1, max_size=80),  # Hypothesis' full unicode range, no surrogates
    st.sampled_from([
        "\ud800", "a\udfffb",  # lone surrogates (json.dumps escapes them; invalid UTF-16)
        "\u0000", "\ufeff", "\u202eevil", "e\u0301\u0301\u0301", "🧪🔥" * 50,
        "\U0010ffff", "\r\n\t\x0b\x0c", "null", "<|end|><|assistant|>", "</s><s>",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢" * 20, "\u200b" * 500, "ﷺ" * 100,
    ]),
)


@dataclass(frozen=True)
class RawJSON:
    """A JSON fragment spliced verbatim into the encoded body (json.dumps would recurse)."""

    text: str


@st.composite
def deep(draw, depth_choices=(2, 50, 500, 5_000, 50_000)) -> RawJSON:
    """A value nested `depth` levels deep (lists, objects or a mix)."""
    depth = draw(st.sampled_from(depth_choices))
    kind = draw(st.sampled_from(["list", "dict", "mixed"]))
    opens = [("[", "]") if kind == "list" or (kind == "mixed" and i % 2) else ('{"a":', "}")
             for i in range(depth)]
    return RawJSON("".join(o for o, _ in opens) + "1" + "".join(c for _, c in reversed(opens)))


@st.composite
def huge_ids(draw, limits: Limits) -> list[int]:
    """Prompts around and past the pool and the context length."""
    n = draw(st.sampled_from([
        limits.pool // 2, limits.pool - 8, limits.pool, limits.pool + 1,
        limits.context - 1, limits.context, limits.context + 1, 4 * limits.context,
        100_000,
    ]))
    return ids_of(n, draw(seeds), limits.vocab)


@st.composite
def huge_text(draw, limits: Limits) -> str:
    n = draw(st.sampled_from([20_000, 4 * limits.context, 400_000, 2_000_000]))
    return words_of(n, draw(seeds))


# Floats at the edges of float64 and float32 (sampling runs in float32): denormals,
# the largest doubles, values that become 0 or inf in float32, and signed zeros.
extreme_floats = st.sampled_from([
    1e-320, -1e-320, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-45, 1e-38, 1e-30,
    1e-7, 1e308, -1e308, 1.7976931348623157e308, 3.5e38, -3.5e38, 3.4e38, 1e38, -0.0, 0.0,
])
# What a client can send in place of a number: numeric strings (inf and nan spelled as
# Python and JSON parsers know them, 400-digit strings), and JSON number literals that
# are valid RFC 8259 but overflow a double or a 64-bit int (spliced raw).
numeric_strings = st.sampled_from([
    "inf", "-inf", "Infinity", "-Infinity", "nan", "NaN", "1e400", "-1e400", "1e-400",
    "9" * 400, "-" + "9" * 400, "0." + "0" * 399 + "1", "1" + "0" * 400 + ".5", "0x10",
    "1_000", " 1", "",
])
overflowing_literals = st.sampled_from([
    RawJSON("1e400"), RawJSON("-1e400"), RawJSON("1e-400"), RawJSON("9" * 400),
    RawJSON("-" + "9" * 400), RawJSON("0." + "0" * 399 + "1"), RawJSON("18446744073709551616"),
    RawJSON("-9223372036854775809"),
])
extreme_numbers = st.one_of(extreme_floats, numeric_strings, overflowing_literals)

absurd_ints = st.one_of(st.sampled_from([
    -1, -(2**31), 0, 2**31, 2**31 - 1, 2**53, 2**63 - 1, 2**63, 2**64, 10**9, 10**30,
    -(10**30)]), extreme_numbers)
absurd_numbers = st.one_of(absurd_ints, st.sampled_from(
    [1e308, -1e308, 1e-320, -0.0, 0.5, 1.5, -2.5, 2.0000001, 1e20]), extreme_numbers)
