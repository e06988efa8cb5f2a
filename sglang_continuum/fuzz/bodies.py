"""One Hypothesis strategy per fuzz category, each drawing whole requests.

A request is ``(route, body, headers)``; ``body`` is a JSON-able object (possibly holding
``RawJSON`` fragments) or ``bytes`` sent as is. Every category starts from an ordinary
request of a randomly drawn route and breaks one thing (or a few) in it.
"""

from __future__ import annotations

import copy

from hypothesis import strategies as st

from sglang_continuum.fuzz import values as v
from sglang_continuum.fuzz.values import Limits

Request = tuple  # (route, body, headers)

# Native sampling-param names and their OpenAI names (None: native only).
SAMPLING = {
    "max_new_tokens": "max_tokens", "min_new_tokens": "min_tokens", "temperature":
    "temperature", "top_p": "top_p", "top_k": "top_k", "min_p": "min_p", "n": "n",
    "frequency_penalty": "frequency_penalty", "presence_penalty": "presence_penalty",
    "repetition_penalty": "repetition_penalty", "stop": "stop", "stop_token_ids":
    "stop_token_ids", "ignore_eos": "ignore_eos", "regex": "regex", "json_schema": None,
    "ebnf": "ebnf", "logit_bias": "logit_bias", "skip_special_tokens": "skip_special_tokens",
    "no_stop_trim": "no_stop_trim", "custom_params": "custom_params", "seed": "seed",
}


def set_sampling(route: str, body: dict, name: str, value) -> None:
    """Put a sampling parameter where the route reads it."""
    if route == "/generate":
        sp = body.setdefault("sampling_params", {})
        if isinstance(sp, dict):
            sp["sampling_seed" if name == "seed" else name] = value
        return
    body[SAMPLING.get(name) or name] = value


@st.composite
def base(draw, limits: Limits, route: str | None = None) -> tuple[str, dict]:
    """An ordinary, valid request with a small output."""
    route = route or draw(st.sampled_from(v.ROUTES))
    new = draw(v.small_new)
    stream = draw(st.sampled_from([False, False, False, True]))
    if route == "/generate":
        prompt = draw(st.one_of(st.builds(lambda t: {"text": t}, v.plain_text),
                                st.builds(lambda i: {"input_ids": i}, v.in_vocab_ids(limits))))
        body = {**prompt, "sampling_params": {"max_new_tokens": new, "temperature": 0.0}}
    elif route == "/v1/completions":
        prompt = draw(st.one_of(v.plain_text, v.in_vocab_ids(limits)))
        body = {"model": "default", "prompt": prompt, "max_tokens": new}
    else:
        body = {"model": "default", "max_tokens": new,
                "messages": [{"role": "user", "content": draw(v.plain_text)}]}
    if stream:
        body["stream"] = True
    return route, body


def request(route: str, body, headers: dict | None = None) -> Request:
    """A drawn request: (route, body, headers)."""
    return route, body, headers or {}


@st.composite
def baseline(draw, limits):
    route, body = draw(base(limits))
    if draw(st.booleans()):
        set_sampling(route, body, "temperature", draw(st.sampled_from([0.0, 0.7, 1.0, 2.0])))
        set_sampling(route, body, "top_k", draw(st.sampled_from([-1, 1, 5, 50])))
    return request(route, body)


def _paths(route: str, body: dict) -> list[tuple]:
    """Places a value can be swapped in: top-level keys, sampling params, message keys."""
    out = [(k,) for k in body]
    if isinstance(body.get("sampling_params"), dict):
        out += [("sampling_params", k) for k in body["sampling_params"]]
    if isinstance(body.get("messages"), list):
        out += [("messages", 0, k) for k in ("role", "content")] + [("messages", 0)]
    return out


def _put(body: dict, path: tuple, value) -> None:
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


@st.composite
def wrong_types(draw, limits):
    route, body = draw(base(limits))
    paths = draw(st.lists(st.sampled_from(_paths(route, body)), min_size=1, max_size=2,
                          unique=True))
    for path in sorted(paths, key=len, reverse=True):  # children before their parents
        _put(body, path, copy.deepcopy(draw(v.any_json)))
    return request(route, body)


@st.composite
def empty(draw, limits):
    route, body = draw(base(limits))
    kind = draw(st.sampled_from(["body", "prompt", "raw"]))
    if kind == "body":
        return request(route, draw(st.sampled_from([{}, [], None, "", 0, {"model": "default"}])))
    if kind == "raw":
        return request(route, draw(st.sampled_from(
            [b"", b"{", b"{\"text\":", b"\xff\xfe", b"[1,2", b"nul", b"{}{}", b" "])))
    empties = {"/generate": [("text", ""), ("text", []), ("input_ids", []),
                             ("input_ids", [[]]), ("input_ids", [[], [11]])],
               "/v1/completions": [("prompt", ""), ("prompt", []), ("prompt", [[]]),
                                   ("prompt", [""])],
               "/v1/chat/completions": [("messages", []), ("messages", [{}]),
                                        ("messages", [{"role": "user", "content": ""}]),
                                        ("messages", [{"role": "user", "content": []}])]}
    key, value = draw(st.sampled_from(empties[route]))
    body.pop("text", None) if key == "input_ids" else body.pop("input_ids", None)
    body[key] = value
    return request(route, body)


@st.composite
def huge(draw, limits):
    route, body = draw(base(limits))
    body.pop("stream", None)
    kind = draw(st.sampled_from(["ids", "text", "messages", "field"]))
    if kind == "ids" and route != "/v1/chat/completions":
        ids = draw(v.huge_ids(limits))
        body.pop("text", None)
        body["input_ids" if route == "/generate" else "prompt"] = ids
    elif kind in ("ids", "text"):
        text = draw(v.huge_text(limits))
        if route == "/generate":
            body.pop("input_ids", None)
            body["text"] = text
        elif route == "/v1/completions":
            body["prompt"] = text
        else:
            body["messages"][0]["content"] = text
    elif kind == "messages" and route == "/v1/chat/completions":
        n = draw(st.sampled_from([100, 2_000, 20_000]))
        body["messages"] = [{"role": "user", "content": "hi"}] * n
    else:
        size = draw(st.sampled_from([10_000, 1_000_000, 4_000_000]))
        body[draw(st.sampled_from(["rid", "zzz_unknown", "model"]))] = "x" * size
    return request(route, body)


@st.composite
def max_new_tokens(draw, limits):
    route, body = draw(base(limits))
    name = draw(st.sampled_from(["max_new_tokens", "max_new_tokens", "min_new_tokens"]))
    value = draw(st.one_of(v.absurd_numbers, st.integers(0, limits.small_new),
                           st.sampled_from([limits.context, limits.pool, None, "8", True])))
    if route == "/v1/chat/completions" and draw(st.booleans()) and name == "max_new_tokens":
        body.pop("max_tokens")
        body["max_completion_tokens"] = value
    else:
        set_sampling(route, body, name, value)
    return request(route, body)


@st.composite
def n_sampling(draw, limits):
    route, body = draw(base(limits))
    n = draw(st.one_of(st.integers(2, 8), st.sampled_from([0, -1, 1.5, "2", 64, 10**6, 2**63]),
                       v.extreme_numbers))
    set_sampling(route, body, "n", n)
    if draw(st.booleans()):
        set_sampling(route, body, "temperature", 1.0)
    return request(route, body)


@st.composite
def logprobs(draw, limits):
    route, body = draw(base(limits))
    ints = st.one_of(st.integers(0, 8), v.absurd_ints, st.sampled_from([limits.vocab, 20, 21]))
    if route == "/generate":
        body["return_logprob"] = draw(st.one_of(st.booleans(), v.any_json_scalar))
        for key, strat in [("top_logprobs_num", ints), ("logprob_start_len", ints),
                           ("token_ids_logprob", st.lists(st.one_of(
                               st.integers(0, 100), v.oov_id(limits)), max_size=4)),
                           ("return_text_in_logprobs", st.booleans())]:
            if draw(st.booleans()):
                body[key] = draw(strat)
    else:
        body["logprobs"] = draw(st.one_of(st.booleans(), ints) if route == "/v1/completions"
                                else st.one_of(st.booleans(), v.any_json_scalar))
        if draw(st.booleans()):
            body["top_logprobs"] = draw(ints)
        if route == "/v1/completions" and draw(st.booleans()):
            body["echo"] = True
    return request(route, body)


@st.composite
def stop(draw, limits):
    route, body = draw(base(limits))
    stops = st.one_of(st.just(""), v.unicode_text, st.lists(v.unicode_text, max_size=8),
                      st.sampled_from([[""], ["a" * 10_000], ["x"] * 1_000, None, 7, [7],
                                       ["e", "the", " ", "\n"]]))
    set_sampling(route, body, "stop", draw(stops))
    if draw(st.booleans()):
        set_sampling(route, body, "stop_token_ids", draw(st.lists(st.one_of(
            st.integers(0, 100), v.oov_id(limits)), max_size=4)))
    if draw(st.booleans()):
        set_sampling(route, body, "no_stop_trim", draw(st.booleans()))
    return request(route, body)


@st.composite
def sampling(draw, limits):
    route, body = draw(base(limits))
    pool = {
        "temperature": v.absurd_numbers, "top_p": v.absurd_numbers, "top_k": v.absurd_ints,
        "min_p": v.absurd_numbers, "frequency_penalty": v.absurd_numbers,
        "presence_penalty": v.absurd_numbers, "repetition_penalty": v.absurd_numbers,
        "seed": v.absurd_ints, "ignore_eos": v.any_json_scalar,
        # The numeric fields the other categories draw from narrower sets, here with
        # the extreme values too (n only extreme: a large valid n is a slow case).
        "max_new_tokens": st.one_of(v.small_new, v.extreme_numbers),
        "min_new_tokens": st.one_of(st.integers(0, 2), v.extreme_numbers),
        "n": v.extreme_numbers, "stream_interval": v.absurd_ints,
        "skip_special_tokens": v.any_json_scalar,
        "regex": st.sampled_from(["[a-z]+", "(", "a{99999999}", "\\", "", ".*" * 200]),
        "json_schema": st.sampled_from(['{"type": "object"}', "{", '{"type": "nope"}', "1",
                                        '{"$ref": "#/x"}']),
        "ebnf": st.sampled_from(['root ::= "a"', "root ::=", "x"]),
        "logit_bias": st.dictionaries(st.one_of(st.integers(0, 50).map(str), v.oov_id(
            limits).map(str), st.just("abc")), v.absurd_numbers, max_size=3),
    }
    for name in draw(st.lists(st.sampled_from(sorted(pool)), min_size=1, max_size=3,
                              unique=True)):
        set_sampling(route, body, name, draw(pool[name]))
    return request(route, body)


@st.composite
def unicode(draw, limits):
    route, body = draw(base(limits))
    text = draw(v.unicode_text)
    where = draw(st.sampled_from(["prompt", "prompt", "stop", "program", "raw", "role"]))
    if where == "raw":  # invalid UTF-8 in an otherwise fine body
        return request(route, ('{"text": "a\xff\xfe", "model": "default", "prompt": "\xc3", '
                            '"messages": [{"role": "user", "content": "\xed\xa0\x80"}], '
                            '"max_tokens": 2, "sampling_params": {"max_new_tokens": 2}}'
                            ).encode("latin-1"))
    if where == "stop":
        set_sampling(route, body, "stop", [text])
    elif where == "program":
        set_sampling(route, body, "custom_params", {"program_id": text, "tool": text})
    elif route == "/generate":
        body.pop("input_ids", None)
        body["text"] = text
    elif route == "/v1/completions":
        body["prompt"] = text
    elif where == "role":
        body["messages"][0]["role"] = text
    else:
        body["messages"][0]["content"] = text
    return request(route, body)
