"""End to end: two overlay servers behind sglang-router (PyPI, 0.3.2, policy
``manual`` keyed on X-SMG-Routing-Key). A program's turns stick to one server and hit
its cache; killing that server mid-program costs a cache miss, never an error."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
import requests
from openai import OpenAI

from sglang_continuum.connect.openai_agent import ProgramSession
from sglang_continuum.connect.router import launch_router
from sglang_continuum.testing.server import free_port, launch

from .conftest import BASE_ARGS, LOG_DIR

pytestmark = pytest.mark.server

# custom_params do not survive the router's chat route (see connect/router.py), so the
# servers choose the TTL themselves: a fixed 30 s lock after every turn.
SERVER_ARGS = [*BASE_ARGS, "--enable-cache-report", "--continuum-policy", "fixed",
               "--continuum-fixed-ttl", "30"]


@pytest.fixture(scope="module")
def cluster():
    with ExitStack() as stack:
        with ThreadPoolExecutor(2) as pool:  # start both servers at once
            managers = [launch(SERVER_ARGS, LOG_DIR, name=f"router-worker{i}")
                        for i in range(2)]
            servers = list(pool.map(stack.enter_context, managers))
        url = stack.enter_context(launch_router(
            [s.url for s in servers], free_port(), LOG_DIR / "router.log",
            prometheus_port=free_port()))
        yield url, servers


def _requests(server) -> float:
    return server.metric("sglang:num_requests_total") if server.alive() else 0.0


def _session(router_url: str, program_id: str) -> ProgramSession:
    client = OpenAI(base_url=f"{router_url}/v1", api_key="none", max_retries=0)
    return ProgramSession(client, program_id)


def _agent_turns(session, start: int, turns: int, messages: list) -> list:
    """Calls of a tool-using agent: each appends the reply and a tool result."""
    out = []
    for i in range(start, start + turns):
        turn = session.chat(messages, max_tokens=4, temperature=0)
        out.append(turn)
        messages += [{"role": "assistant", "content": turn.content},
                     {"role": "user", "content": f"<output>step {i} " + "ok " * 40 + "</output>"}]
    return out


def _opening(program: str) -> list:
    return [{"role": "system", "content": f"{program}: " + "you run shell tools. " * 40},
            {"role": "user", "content": "start"}]


def test_each_program_sticks_to_one_server_and_hits_its_cache(cluster):
    router, servers = cluster
    homes = set()
    for k in range(4):
        before = [_requests(s) for s in servers]
        locks = [s.metric("sglang_continuum_locks_set_total") for s in servers]
        turns = _agent_turns(_session(router, f"sticky-{k}"), 0, 3, _opening(f"p{k}"))
        delta = [_requests(s) - b for s, b in zip(servers, before)]
        assert sorted(delta) == [0, 3], delta  # every turn on the same server
        home = delta.index(3)
        homes.add(home)
        for prev, cur in zip(turns, turns[1:]):
            assert cur.cached_tokens >= 0.9 * prev.prompt_tokens, turns
        # The program id arrived (from the header) and each turn took a lock there.
        assert servers[home].wait_metric("sglang_continuum_locks_set_total",
                                         locks[home] + 3) == locks[home] + 3
        assert servers[1 - home].metric("sglang_continuum_locks_set_total") == locks[1 - home]
    print(f"programs landed on servers {sorted(homes)}")


def test_router_keeps_custom_params_on_completions_but_drops_them_on_chat(cluster):
    """Documents sglang-router 0.3.2: a bad field reaches the server (HTTP 400) only
    through /v1/completions. If this changes, update the README section "Connect your agent"."""
    router, _ = cluster
    bad = {"program_id": "p", "last_turn": 3}
    completions = requests.post(f"{router}/v1/completions", json={
        "model": "default", "prompt": "hi", "max_tokens": 1, "custom_params": bad},
        timeout=60)
    assert completions.status_code == 400 and "last_turn" in completions.text
    chat = requests.post(f"{router}/v1/chat/completions", json={
        "model": "default", "max_tokens": 1, "custom_params": bad,
        "messages": [{"role": "user", "content": "hi"}]}, timeout=60)
    assert chat.status_code == 200, chat.text


def test_killing_the_home_server_mid_program_costs_a_miss_not_an_error(cluster):
    router, servers = cluster
    session, messages = _session(router, "failover-1"), _opening("failover")
    before = [_requests(s) for s in servers]
    first = _agent_turns(session, 0, 2, messages)
    home = [_requests(s) - b for s, b in zip(servers, before)].index(2)
    survivor = servers[1 - home]
    os.killpg(servers[home].proc.pid, signal.SIGKILL)  # mid-program, lock held
    servers[home].proc.wait(timeout=30)
    served = _requests(survivor)
    t0 = time.monotonic()
    after = _agent_turns(session, 2, 2, messages)  # raises if the agent saw an error
    failover_s = time.monotonic() - t0
    assert _requests(survivor) == served + 2
    assert after[0].cached_tokens < 0.2 * first[-1].prompt_tokens, (first, after)
    assert after[1].cached_tokens >= 0.9 * after[0].prompt_tokens, after
    print(f"failover turns took {failover_s:.1f}s; miss then hit on the survivor")
