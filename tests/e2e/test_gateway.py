"""End to end: two overlay servers behind the Shepherd Model Gateway (PyPI ``smg``).

What smg forwards to the servers on chat, completions and ``/generate`` (asserted as it
is, so an upgrade that changes it fails here); programs keyed by ``X-SMG-Routing-Key``
stay on their server (``manual``); an agent that sends nothing keeps its server
(``cache_aware``) and its locks (transparent identity); killing the server that holds
a program during its tool call costs one slower turn and a miss, never an error.
Two servers are shared by the module; each test starts its own gateway (under a second).
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

import pytest
import requests
from openai import OpenAI

pytest.importorskip("smg", reason="smg (Shepherd Model Gateway) is not installed")

from sglang_continuum.connect.gateway import launch_gateway  # noqa: E402
from sglang_continuum.connect.openai_agent import ProgramSession  # noqa: E402
from sglang_continuum.launcher.client import random_ids  # noqa: E402
from sglang_continuum.launcher.server import free_port, launch  # noqa: E402

from .conftest import BASE_ARGS, LOG_DIR  # noqa: E402

pytestmark = pytest.mark.server

# The CPU cost model picks TTL 0 for the tiny model: a fixed 30 s lock after each turn.
SERVER_ARGS = [*BASE_ARGS, "--enable-cache-report", "--continuum-policy", "fixed",
               "--continuum-fixed-ttl", "30",  # program inference is on by default
               "--served-model-name", "default"]  # smg routes by model name


@pytest.fixture(scope="module")
def servers():
    with ExitStack() as stack:
        with ThreadPoolExecutor(2) as pool:  # start both at once
            # A bound on a failure only: two servers starting at once on a loaded 2-core host.
            managers = [launch(SERVER_ARGS, LOG_DIR, name=f"smg-worker{i}", timeout=600)
                        for i in range(2)]
            yield list(pool.map(stack.enter_context, managers))


@contextmanager
def gateway(servers, policy):
    with launch_gateway([s.url for s in servers], free_port(), LOG_DIR / f"smg-{policy}.log",
                        policy=policy, prometheus_port=free_port()) as url:
        yield url


def _served(server) -> float:
    return server.metric("sglang:num_requests_total") if server.alive() else 0.0


def _counts(server, *names) -> list[float]:
    return [server.metric(f"sglang_continuum_{n}_total") for n in names]


def _opening(program: str) -> list:
    return [{"role": "system", "content": f"{program}: " + "you run shell tools. " * 40},
            {"role": "user", "content": "start"}]


def _tool_output(i: int) -> dict:
    return {"role": "user", "content": f"<output>step {i} " + "ok " * 40 + "</output>"}


def _agent_turns(session, start: int, turns: int, messages: list) -> list:
    out = []
    for i in range(start, start + turns):
        turn = session.chat(messages, max_tokens=4, temperature=0)
        out.append(turn)
        messages += [{"role": "assistant", "content": turn.content}, _tool_output(i)]
    return out


def _session(url: str, program_id: str) -> ProgramSession:
    return ProgramSession(OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0),
                          program_id)


def test_gateway_forwards_custom_params_on_every_route_and_the_routing_header(servers):
    """smg 1.13.0 keeps ``custom_params`` on chat, completions and /generate (a bad field
    reaches the server: HTTP 400 naming it) and forwards ``X-SMG-Routing-Key``, which the
    server reads as the program id. sglang-router 0.3.2 dropped them on chat and
    /generate. If this changes, update README "Connect your agent"."""
    bad = {"program_id": "p", "last_turn": 3}
    with gateway(servers, "manual") as gw:
        for path, body in [
                ("/v1/chat/completions", {"model": "default", "max_tokens": 1,
                                          "messages": [{"role": "user", "content": "hi"}],
                                          "custom_params": bad}),
                ("/v1/completions", {"model": "default", "prompt": "hi", "max_tokens": 1,
                                     "custom_params": bad}),
                ("/generate", {"text": "hi", "sampling_params": {
                    "max_new_tokens": 1, "custom_params": bad}})]:
            r = requests.post(f"{gw}{path}", json=body, timeout=60)
            assert r.status_code == 400 and "last_turn" in r.text, (path, r.status_code, r.text)

        # The header alone names the program: a lock is set, nothing is inferred.
        before = [(_served(s), *_counts(s, "locks_set", "programs_inferred")) for s in servers]
        r = requests.post(f"{gw}/v1/chat/completions", headers={"X-SMG-Routing-Key": "hdr-1"},
                          json={"model": "default", "max_tokens": 2, "messages":
                                [{"role": "user", "content": "header only " * 20}]}, timeout=60)
        assert r.status_code == 200, r.text
        home = [_served(s) - b[0] for s, b in zip(servers, before)].index(1)
        servers[home].settle()
        locks, inferred = _counts(servers[home], "locks_set", "programs_inferred")
        assert (locks, inferred) == (before[home][1] + 2, before[home][2])  # + settle's

        # last_turn survives /generate: the program ends and its lock is released.
        before = [(_served(s), *_counts(s, "programs_ended")) for s in servers]
        prompt, cp = random_ids(64, 77), {"program_id": "gen-1"}
        first = requests.post(f"{gw}/generate", headers={"X-SMG-Routing-Key": "gen-1"}, json={
            "input_ids": prompt, "sampling_params": {"max_new_tokens": 2, "custom_params": cp}},
            timeout=60).json()
        requests.post(f"{gw}/generate", headers={"X-SMG-Routing-Key": "gen-1"}, json={
            "input_ids": prompt + first["output_ids"] + [11],
            "sampling_params": {"max_new_tokens": 2,
                                "custom_params": {**cp, "last_turn": True}}},
            timeout=60).raise_for_status()
        home = [_served(s) - b[0] for s, b in zip(servers, before)].index(2)
        servers[home].wait_metric("sglang_continuum_programs_ended_total",
                                  before[home][1] + 1)


def test_programs_keyed_by_header_stick_to_one_server_and_hit(servers):
    with gateway(servers, "manual") as gw:
        homes = []
        for k in range(3):
            before = [_served(s) for s in servers]
            locks = [_counts(s, "locks_set")[0] for s in servers]
            turns = _agent_turns(_session(gw, f"sticky-{k}"), 0, 3, _opening(f"p{k}"))
            delta = [_served(s) - b for s, b in zip(servers, before)]
            assert sorted(delta) == [0, 3], delta  # every turn on the same server
            home = delta.index(3)
            homes.append(home)
            for prev, cur in zip(turns, turns[1:]):
                assert cur.cached_tokens >= 0.9 * prev.prompt_tokens, turns
            assert servers[home].wait_metric("sglang_continuum_locks_set_total",
                                             locks[home] + 3) == locks[home] + 3
        print(f"programs' servers: {homes}")


def test_an_agent_that_sends_nothing_keeps_its_server_and_its_locks(servers):
    """No extra_body, no header: smg's cache_aware policy follows the prompt's prefix
    and the server infers the program, so each turn hits and every turn after the first
    takes a lock (the first is a plain request until the second continues it; it locks
    too where the server's learned first-turn share is at least 1/2, a fresh server's)."""
    with gateway(servers, "cache_aware") as gw:
        client = OpenAI(base_url=f"{gw}/v1", api_key="none", max_retries=0)
        names = ("turns_inferred", "locks_set", "locks_consumed")
        before = [(_served(s), *_counts(s, *names)) for s in servers]
        messages, turns = _opening("plain"), []
        for i in range(3):
            r = client.chat.completions.create(model="default", messages=messages,
                                               max_tokens=4, temperature=0)
            turns.append((r.usage.prompt_tokens, r.usage.prompt_tokens_details.cached_tokens))
            messages += [{"role": "assistant", "content": r.choices[0].message.content},
                         _tool_output(i)]
        delta = [_served(s) - b[0] for s, b in zip(servers, before)]
        assert sorted(delta) == [0, 3], delta
        home = servers[delta.index(3)]
        b = before[delta.index(3)]
        for (prev, _), (_, cached) in zip(turns, turns[1:]):
            assert cached >= 0.9 * prev, turns
        home.settle()
        after = _counts(home, *names)
        # 2 turns continued the first; 2 locks (+ settle's), 1 consumed (+ settle's), and
        # where the first turn locked, one more of each.
        d = [a - x for a, x in zip(after, b[1:])]
        first = d[1] - (2 + 1)
        assert first in (0, 1) and d == [2, first + 2 + 1, first + 1 + 1], (turns, after, b)


def test_killing_the_home_server_during_a_tool_call_costs_a_miss_not_an_error(servers):
    """Last in the module: it kills one of the shared servers."""
    with gateway(servers, "manual") as gw:
        session, messages = _session(gw, "failover-1"), _opening("failover")
        before = [_served(s) for s in servers]
        first = _agent_turns(session, 0, 2, messages)
        home = [_served(s) - b for s, b in zip(servers, before)].index(2)
        survivor = servers[1 - home]
        os.killpg(servers[home].proc.pid, signal.SIGKILL)  # in the tool call, lock held
        servers[home].proc.wait(timeout=30)
        served = _served(survivor)
        t0 = time.monotonic()
        after = _agent_turns(session, 2, 1, messages)  # raises if the agent saw an error
        failover_s = time.monotonic() - t0
        t0 = time.monotonic()
        after += _agent_turns(session, 3, 1, messages)
        next_s = time.monotonic() - t0
        assert _served(survivor) == served + 2
        assert after[0].cached_tokens < 0.2 * first[-1].prompt_tokens, (first, after)
        assert after[1].cached_tokens >= 0.9 * after[0].prompt_tokens, after
        print(f"turn after the kill {failover_s:.2f}s (miss), next {next_s:.2f}s (hit)")
