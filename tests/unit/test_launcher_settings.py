"""The launcher's argument handling and the settings hand-off (no server started)."""

from __future__ import annotations

import json
import math

import pytest

from sglang_continuum.server import launch as launch_server
from sglang_continuum.core import PrefillModel
from sglang_continuum.server.settings import ENV_VAR, Settings


def _parse(argv, monkeypatch, tmp_path):
    monkeypatch.setenv("SGLANG_CONTINUUM_CACHE", str(tmp_path))
    return launch_server.parse(argv)


def test_tiny_model_defaults_are_added_and_user_flags_win(monkeypatch, tmp_path):
    settings, argv = _parse(["--max-total-tokens", "4096", "--port", "1234"],
                            monkeypatch, tmp_path)
    assert settings == Settings()
    assert argv[argv.index("--max-total-tokens") + 1] == "4096"
    assert argv.count("--max-total-tokens") == 1
    assert argv[argv.index("--device") + 1] == "cpu"
    assert argv[argv.index("--radix-cache-backend") + 1] == "continuum"
    assert "--enable-metrics" in argv
    assert (tmp_path / "tiny-llama-v1" / "config.json").exists()


def test_model_path_gets_no_cpu_defaults(monkeypatch, tmp_path):
    _, argv = _parse(["--model-path", "/models/llama"], monkeypatch, tmp_path)
    assert "--device" not in argv and "--load-format" not in argv


def test_disable_is_stock_sglang(monkeypatch, tmp_path):
    settings, argv = _parse(["--model-path", "m", "--continuum-disable"], monkeypatch, tmp_path)
    assert settings is None
    assert "--radix-cache-backend" not in argv and "--enable-metrics" not in argv


def test_our_flags_reach_the_settings(monkeypatch, tmp_path):
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps({"a": 0.01, "b": 2e-4, "c": 1e-9, "samples": [[1, 2]]}))
    settings, argv = _parse(["--model-path", "m", "--continuum-policy", "fixed",
                             "--continuum-fixed-ttl", "3", "--continuum-no-program-fcfs",
                             "--continuum-lock-budget", "0.7",
                             "--continuum-prefill-profile", str(prof)], monkeypatch, tmp_path)
    policy = settings.policy
    assert policy.mode == "fixed" and policy.fixed_ttl_s == 3.0
    assert policy.program_fcfs is False and policy.lock_budget_fraction == 0.7
    assert policy.prefill_profile == PrefillModel(0.01, 2e-4, 1e-9)
    assert not any(a.startswith("--continuum") for a in argv)
    assert Settings.from_env({ENV_VAR: settings.to_json()}) == settings


@pytest.mark.parametrize("value, expected", [(None, 180.0), ("30", 30.0), ("inf", math.inf)])
def test_queue_age_cap_flag(monkeypatch, tmp_path, value, expected):
    extra = [] if value is None else ["--continuum-queue-age-cap", value]
    settings, _ = _parse(["--model-path", "m", *extra], monkeypatch, tmp_path)
    assert settings.policy.queue_age_cap_s == expected
    assert Settings.from_env({ENV_VAR: settings.to_json()}) == settings


def test_config_file_and_flag_override(monkeypatch, tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"max_ttl_s": 10, "per_tenant_fraction": 0.3}))
    settings, _ = _parse(["--model-path", "m", "--continuum-config", str(cfg),
                          "--continuum-max-ttl", "20"], monkeypatch, tmp_path)
    assert settings.policy.max_ttl_s == 20 and settings.policy.per_tenant_fraction == 0.3


@pytest.mark.parametrize("argv, field", [
    (["--continuum-lock-budget", "1.5"], "lock_budget_fraction"),
    (["--continuum-max-ttl", "-1"], "max_ttl_s"),
    (["--continuum-fixed-ttl", "nan"], "fixed_ttl_s"),
    (["--continuum-queue-age-cap", "-5"], "queue_age_cap_s"),
])
def test_bad_settings_name_the_field(monkeypatch, tmp_path, capsys, argv, field):
    with pytest.raises(SystemExit):
        _parse(["--model-path", "m", *argv], monkeypatch, tmp_path)
    assert field in capsys.readouterr().err


def test_unknown_config_key_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown continuum setting"):
        Settings.from_mapping({"polcy": "fixed"})


def test_backend_flag_conflicts_with_the_overlay(monkeypatch, tmp_path):
    with pytest.raises(SystemExit):
        _parse(["--model-path", "m", "--radix-cache-backend", "other"], monkeypatch, tmp_path)


def test_dp_routing_flag_and_config_key(monkeypatch, tmp_path):
    settings, argv = _parse(["--model-path", "m", "--continuum-dp-routing", "sglang"],
                            monkeypatch, tmp_path)
    assert settings.dp_routing == "sglang" and "--continuum-dp-routing" not in argv
    assert Settings().dp_routing == "sticky"
    assert Settings.from_mapping(settings.to_mapping()) == settings
    with pytest.raises(ValueError, match="dp_routing"):
        Settings.from_mapping({"dp_routing": "round_robin"})


@pytest.mark.parametrize("value, expected", [(None, "aged"), ("fcfs", "fcfs"),
                                             ("ahead", "ahead")])
def test_plain_requests_flag(monkeypatch, tmp_path, value, expected):
    extra = [] if value is None else ["--continuum-plain-requests", value]
    settings, argv = _parse(["--model-path", "m", *extra], monkeypatch, tmp_path)
    assert settings.policy.plain_requests == expected
    assert "--continuum-plain-requests" not in argv
    assert Settings.from_env({ENV_VAR: settings.to_json()}) == settings
    assert Settings.from_mapping({"plain_requests": "ahead"}).policy.plain_requests == "ahead"


def test_memory_price_flags_reach_the_policy(monkeypatch, tmp_path):
    settings, argv = _parse(["--model-path", "m"], monkeypatch, tmp_path)
    assert (settings.policy.contention_saturation, settings.policy.contended_ttl) == \
        (0.0, "max")
    settings, argv = _parse(["--model-path", "m", "--continuum-contention-saturation", "0.05",
                             "--continuum-contended-ttl", "quantile"], monkeypatch, tmp_path)
    assert (settings.policy.contention_saturation, settings.policy.contended_ttl) == \
        (0.05, "quantile")
    assert not any(a.startswith("--continuum-") for a in argv)
    assert Settings.from_env({ENV_VAR: settings.to_json()}) == settings
    with pytest.raises(ValueError, match="contention_saturation"):
        Settings.from_mapping({"contention_saturation": 2})


@pytest.mark.parametrize("value", [None, "learned", "plain"])
def test_first_turns_flag(monkeypatch, tmp_path, value):
    extra = [] if value is None else ["--continuum-first-turns", value]
    settings, _ = _parse(["--model-path", "m", *extra], monkeypatch, tmp_path)
    assert settings.first_turns == (value or "learned")
    assert Settings.from_env({ENV_VAR: settings.to_json()}) == settings


def test_bad_first_turns_names_the_field():
    with pytest.raises(ValueError, match="first_turns"):
        Settings(first_turns="maybe")
