"""The smg command we document parses with the installed smg."""

from __future__ import annotations

import pytest

from sglang_continuum.connect.gateway import gateway_argv

smg_launch = pytest.importorskip("smg.launch_router", reason="smg is not installed")

WORKERS = ["http://127.0.0.1:30001", "http://127.0.0.1:30002"]


def test_documented_gateway_command_is_accepted_by_smg():
    argv = gateway_argv(WORKERS, 30000, prometheus_port=29001)
    assert argv[1:4] == ["-m", "smg", "launch"]
    args = smg_launch.parse_router_args(argv[4:])
    assert args.policy == "manual"  # pins each X-SMG-Routing-Key to one worker
    assert args.assignment_mode == "min_load"  # a new key goes to the least loaded
    assert args.worker_urls == WORKERS and args.port == 30000
    assert (args.cb_failure_threshold, args.retry_max_retries) == (1, 5)
    assert (args.health_check_interval_secs, args.health_failure_threshold) == (1, 3)
    assert args.prometheus_port == 29001


def test_cache_aware_for_agents_that_send_nothing_and_a_bad_policy_named():
    args = smg_launch.parse_router_args(gateway_argv(WORKERS, 30000, policy="cache_aware")[4:])
    assert args.policy == "cache_aware"
    with pytest.raises(ValueError, match="policy"):
        gateway_argv(WORKERS, 30000, policy="round_robin")
