"""The router command we document parses with the installed sglang-router."""

from __future__ import annotations

from sglang_router.launch_router import parse_router_args

from sglang_continuum.connect.router import router_argv


def test_documented_router_command_is_accepted_by_sglang_router():
    argv = router_argv(["http://127.0.0.1:30001", "http://127.0.0.1:30002"], 30000,
                       prometheus_port=29001)
    assert argv[1:3] == ["-m", "sglang_router.launch_router"]
    args = parse_router_args(argv[3:])
    assert args.policy == "manual"  # pins each X-SMG-Routing-Key to one worker
    assert args.worker_urls == ["http://127.0.0.1:30001", "http://127.0.0.1:30002"]
    assert (args.health_check_interval_secs, args.health_failure_threshold) == (1, 3)
    assert args.retry_max_retries == 12 and args.port == 30000
    assert args.prometheus_port == 29001
