"""Categories that break the shape of a request rather than one sampling value:
nesting, unknown fields, token ids, the overlay's custom_params, chat specifics, batches."""

from __future__ import annotations

from hypothesis import strategies as st

from sglang_continuum.fuzz import values as v
from sglang_continuum.fuzz.bodies import base, request, set_sampling


@st.composite
def nesting(draw, limits):
    route, body = draw(base(limits))
    where = draw(st.sampled_from(["unknown", "prompt", "sampling", "custom", "content"]))
    value = draw(v.deep())
    if where == "unknown":
        body["zz_nested"] = value
    elif where == "prompt":
        body.pop("input_ids", None)
        body["text" if route == "/generate" else
             "prompt" if route == "/v1/completions" else "messages"] = value
    elif where == "custom":
        set_sampling(route, body, "custom_params", {"program_id": "p", "zz": value})
    elif where == "content" and route == "/v1/chat/completions":
        body["messages"][0]["content"] = value
    else:
        set_sampling(route, body, "stop", value)
    return request(route, body)


field_names = st.one_of(st.sampled_from([
    "__proto__", "constructor", "", " ", "rid", "session_id", "priority", "lora_path",
    "return_hidden_states", "bootstrap_host", "data_parallel_rank", "input_embeds",
    "image_data", "tools", "tool_choice", "response_format", "stream_options",
    "chat_template_kwargs", "separate_reasoning", "user", "log_metrics", "extra_key",
    "cache_salt", "routing_key", "custom_logit_processor", "return_routed_experts",
]), st.text(min_size=1, max_size=20))


@st.composite
def unknown_fields(draw, limits):
    route, body = draw(base(limits))
    for _ in range(draw(st.integers(1, 4))):
        name, value = draw(field_names), draw(v.any_json)
        where = draw(st.sampled_from(["top", "top", "sampling", "message"]))
        if where == "sampling":
            set_sampling(route, body, name, value)
        elif where == "message" and route == "/v1/chat/completions":
            body["messages"][0][name] = value
        else:
            body[name] = value
    return request(route, body)


@st.composite
def token_ids(draw, limits):
    """Out-of-vocabulary, negative, huge and non-integer token ids wherever ids go."""
    route = draw(st.sampled_from(["/generate", "/generate", "/v1/completions"]))
    route, body = draw(base(limits, route))
    ids = draw(v.in_vocab_ids(limits, 16))
    for _ in range(draw(st.integers(1, 3))):
        ids[draw(st.integers(0, len(ids) - 1))] = draw(st.one_of(
            v.oov_id(limits), v.oov_id(limits), st.sampled_from([1.5, "7", None, True, 1e20])))
    key = "input_ids" if route == "/generate" else "prompt"
    body.pop("text", None)
    body[key] = draw(st.sampled_from([ids, [ids], [ids, [11, 12]]]))
    return request(route, body)


program_ids = st.one_of(st.text(min_size=1, max_size=12), v.unicode_text,
                        st.sampled_from(["", "p" * 128, "p" * 129, "agent-1", None, 7]))
ttls = st.one_of(st.sampled_from(["500ms", "1s", "30s", "5m", "1h", "-1s", "", "forever",
                                  0, -1, 1e9, None, [1], "1e400s", "0.000001s",
                                  "9" * 400 + "s", "9" * 400 + "ms", "9" * 306 + "h",
                                  "0." + "0" * 400 + "1s", "9" * 100_000 + "s"]),
                 st.floats(allow_nan=False, allow_infinity=False),
                 v.extreme_numbers,
                 st.builds(lambda x: f"{x}s", v.extreme_floats))


@st.composite
def custom_params(draw, limits):
    """The overlay's fields, valid and not, with locks actually taken when valid."""
    route, body = draw(base(limits))
    custom = {"program_id": draw(st.one_of(program_ids, st.builds(
        lambda i: f"fuzz-{i}", st.integers(0, 30))))}
    if draw(st.booleans()):
        custom["last_turn"] = draw(st.one_of(st.booleans(), v.any_json_scalar))
    if draw(st.booleans()):
        custom["tool"] = draw(st.one_of(st.sampled_from(["pytest", "grep", "a/b:c.d-e_f"]),
                                        v.unicode_text, v.any_json_scalar))
    if draw(st.booleans()):
        custom["cache_control"] = draw(st.one_of(
            st.builds(lambda t: {"type": "ephemeral", "ttl": t}, ttls),
            v.any_json, st.builds(lambda t: {"type": t, "ttl": "1s"}, v.any_json_scalar)))
    value = draw(st.one_of(st.just(custom), st.just(custom), v.any_json))
    set_sampling(route, body, "custom_params", value)
    headers = {}
    if draw(st.booleans()):
        key = draw(st.sampled_from(["rk-1", "a\u0007b", "x" * 300, ""]))
        if route == "/generate":
            body["routing_key"] = key
        elif key.isprintable():
            headers["X-SMG-Routing-Key"] = key
    if draw(st.booleans()):
        body[draw(st.sampled_from(["cache_salt", "extra_key"]))] = draw(
            st.one_of(st.sampled_from(["tenant-a", "tenant-b"]), v.any_json_scalar))
    return request(route, body, headers)


content_parts = st.sampled_from([
    [{"type": "text", "text": "hi"}], [{"type": "text"}], [{"type": "nope", "x": 1}],
    [{"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/x.png"}}],
    [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
    [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}], [1, 2],
])


@st.composite
def chat(draw, limits):
    """Chat-route specifics: roles, content parts, tools, response formats, templates."""
    route, body = draw(base(limits, "/v1/chat/completions"))
    msg = body["messages"][0]
    kind = draw(st.sampled_from(["role", "parts", "tools", "format", "template", "order",
                                 "assistant"]))
    if kind == "role":
        msg["role"] = draw(st.sampled_from(["robot", "", "system", "tool", "function",
                                            "developer", "assistant", None]))
    elif kind == "parts":
        msg["content"] = draw(content_parts)
    elif kind == "tools":
        body["tools"] = draw(st.sampled_from([
            [], [{"type": "function"}], [{"type": "function", "function": {"name": "f"}}],
            [{"type": "function", "function": {"name": "f", "parameters": {"type": "nope"}}}],
            "all"]))
        body["tool_choice"] = draw(st.sampled_from(["auto", "required", "none", "bogus",
                                                    {"type": "function",
                                                     "function": {"name": "missing"}}]))
    elif kind == "format":
        body["response_format"] = draw(st.sampled_from([
            {"type": "json_object"}, {"type": "text"}, {"type": "bogus"},
            {"type": "json_schema"}, {"type": "json_schema", "json_schema": {"name": "x"}},
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nope"}}},
            {"type": "structural_tag"}]))
    elif kind == "template":
        body["chat_template_kwargs"] = draw(st.one_of(v.any_json, st.just(
            {"enable_thinking": True})))
        body["continue_final_message"] = draw(st.booleans())
    elif kind == "order":
        body["messages"] = [{"role": "assistant", "content": "a"}] * draw(
            st.integers(1, 3)) + [{"role": "system", "content": "s"}]
    else:
        body["messages"].append({"role": "assistant", "content": None, "tool_calls": draw(
            st.sampled_from([[], [{"id": "1"}], [{"id": "1", "type": "function", "function":
                             {"name": "f", "arguments": "{not json"}}], "x"]))})
        body["messages"].append({"role": "tool", "tool_call_id": "1", "content": "ok"})
    return request(route, body)


@st.composite
def batch(draw, limits):
    """Native batches: lists of prompts with lists of (mismatched) sampling params."""
    route, body = draw(base(limits, "/generate"))
    body.pop("stream", None)
    n = draw(st.integers(0, 6))
    if draw(st.booleans()):
        body.pop("input_ids", None)
        body["text"] = [draw(v.plain_text) for _ in range(n)]
    else:
        body.pop("text", None)
        body["input_ids"] = [draw(v.in_vocab_ids(limits, 16)) for _ in range(n)]
    sp = {"max_new_tokens": 2}
    body["sampling_params"] = draw(st.sampled_from([
        sp, [sp] * n, [sp] * (n + 1), [sp] * max(n - 1, 0), [], [sp, "x"]]))
    if draw(st.booleans()):
        body["rid"] = draw(st.sampled_from([["a"] * n, ["dup", "dup"] * (n // 2 + 1), "one",
                                            [1, 2]]))
    if draw(st.booleans()):
        body["return_logprob"] = draw(st.sampled_from([True, [True] * n, [True]]))
    return request(route, body)
