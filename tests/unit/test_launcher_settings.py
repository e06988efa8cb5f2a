"""The launcher's argument handling and the settings hand-off (no server started)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sglang_continuum.adapter.settings import ENV_VAR, Settings, config_keys
from sglang_continuum.core import PrefillModel
from sglang_continuum.server import flags
from sglang_continuum.server import launch as launch_server


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


def _config(tmp_path, data) -> str:
    path = tmp_path / "continuum.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_our_flags_reach_the_settings(monkeypatch, tmp_path):
    settings, argv = _parse(["--model-path", "m", "--continuum-policy", "fixed",
                             "--continuum-fixed-ttl", "3", "--continuum-max-ttl", "30",
                             "--continuum-lock-budget", "0.7",
                             "--continuum-per-program-cap", "0.4",
                             "--continuum-tenant-share", "0.2",
                             "--continuum-infer-programs", "off",
                             "--continuum-dp-routing", "sglang",
                             "--continuum-status-interval", "0"], monkeypatch, tmp_path)
    policy = settings.policy
    assert (policy.mode, policy.fixed_ttl_s, policy.max_ttl_s) == ("fixed", 3.0, 30.0)
    assert (policy.lock_budget_fraction, policy.per_program_max_fraction,
            policy.per_tenant_fraction) == (0.7, 0.4, 0.2)
    assert (settings.infer_programs, settings.dp_routing, settings.status_interval_s) == \
        (False, "sglang", 0.0)
    assert not any(a.startswith("--continuum") for a in argv)
    assert Settings.from_env({ENV_VAR: settings.to_json()}) == settings


def test_at_most_twelve_operator_flags():
    import argparse

    ap = argparse.ArgumentParser()
    flags.add_cli_args(ap)
    ours = [s for a in ap._actions for s in a.option_strings if s.startswith("--continuum-")]
    assert len(ours) <= 12, ours


@pytest.mark.parametrize("flag", ["--continuum-queue-age-cap", "--continuum-no-program-fcfs",
                                  "--continuum-plain-requests", "--continuum-pressure-scope",
                                  "--continuum-contended-ttl",
                                  "--continuum-contention-saturation",
                                  "--continuum-prefill-profile", "--continuum-first-turns"])
def test_research_knobs_are_config_keys_not_flags(monkeypatch, tmp_path, flag):
    # Not ours, so it goes to SGLang, which refuses it; never taken as a prefix of a flag.
    settings, argv = _parse(["--model-path", "m", flag, "x"], monkeypatch, tmp_path)
    assert flag in argv and settings == Settings()


def test_hold_is_the_default_policy_and_old_spellings_are_gone(monkeypatch, tmp_path, capsys):
    settings, _ = _parse(["--model-path", "m", "--continuum-policy", "hold"],
                         monkeypatch, tmp_path)
    assert settings == Settings() and settings.to_mapping()["policy"] == "hold"
    for old in ("pressure", "cost-model"):
        with pytest.raises(SystemExit):
            _parse(["--model-path", "m", "--continuum-policy", old], monkeypatch, tmp_path)
        assert "hold" in capsys.readouterr().err
        with pytest.raises(ValueError, match="accepted values are hold, paper, fixed, off"):
            Settings.from_mapping({"policy": old})


@pytest.mark.parametrize("value, expected", [(None, 360.0), (30, 30.0), ("inf", math.inf)])
def test_queue_age_cap_key(monkeypatch, tmp_path, value, expected):
    data = {} if value is None else {"queue_age_cap_s": float(value)}
    settings, _ = _parse(["--model-path", "m", "--continuum-config", _config(tmp_path, data)],
                         monkeypatch, tmp_path)
    assert settings.policy.queue_age_cap_s == expected
    assert Settings.from_env({ENV_VAR: settings.to_json()}) == settings


def test_research_keys_reach_the_policy(monkeypatch, tmp_path):
    data = {"program_fcfs": False, "plain_requests": "ahead", "pressure_scope": "any",
            "contention_saturation": 0.05, "contended_ttl": "quantile",
            "first_turns": "plain", "prefill_profile": {"a": 0.01, "b": 2e-4, "c": 1e-9}}
    settings, argv = _parse(["--model-path", "m", "--continuum-config",
                             _config(tmp_path, data)], monkeypatch, tmp_path)
    policy = settings.policy
    assert (policy.program_fcfs, policy.plain_requests, policy.pressure_scope) == \
        (False, "ahead", "any")
    assert (policy.contention_saturation, policy.contended_ttl) == (0.05, "quantile")
    assert settings.first_turns == "plain"
    assert policy.prefill_profile == PrefillModel(0.01, 2e-4, 1e-9)
    assert not any(a.startswith("--continuum-") for a in argv)
    assert Settings.from_env({ENV_VAR: settings.to_json()}) == settings


def test_config_file_and_flag_override(monkeypatch, tmp_path):
    cfg = _config(tmp_path, {"max_ttl_s": 10, "per_tenant_fraction": 0.3})
    settings, _ = _parse(["--model-path", "m", "--continuum-config", cfg,
                          "--continuum-max-ttl", "20"], monkeypatch, tmp_path)
    assert settings.policy.max_ttl_s == 20 and settings.policy.per_tenant_fraction == 0.3


@pytest.mark.parametrize("argv, field", [
    (["--continuum-lock-budget", "1.5"], "lock_budget_fraction"),
    (["--continuum-max-ttl", "-1"], "max_ttl_s"),
    (["--continuum-fixed-ttl", "nan"], "fixed_ttl_s"),
    (["--continuum-status-interval", "-1"], "status_interval_s"),
])
def test_bad_settings_name_the_field(monkeypatch, tmp_path, capsys, argv, field):
    with pytest.raises(SystemExit):
        _parse(["--model-path", "m", *argv], monkeypatch, tmp_path)
    assert field in capsys.readouterr().err


@pytest.mark.parametrize("data, words", [
    ({"queue_age_cap_s": -5}, ["queue_age_cap_s"]),
    ({"polcy": "fixed"}, ["polcy", "accepted", "queue_age_cap_s", "first_turns"]),
    ({"host_tier": True}, ["host_tier", "--enable-hierarchical-cache"]),
    ({"mode": "fixed"}, ["mode", "policy"]),
    ({"first_turns": "maybe"}, ["first_turns", "learned, plain"]),
    ({"plain_requests": "never"}, ["plain_requests"]),
])
def test_bad_config_file_names_the_key(monkeypatch, tmp_path, capsys, data, words):
    cfg = _config(tmp_path, data)
    with pytest.raises(SystemExit):
        _parse(["--model-path", "m", "--continuum-config", cfg], monkeypatch, tmp_path)
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert cfg in err


def test_config_file_must_be_a_json_object(monkeypatch, tmp_path, capsys):
    path = tmp_path / "c.json"
    for text in ("[1, 2]", "{not json"):
        path.write_text(text)
        with pytest.raises(SystemExit):
            _parse(["--model-path", "m", "--continuum-config", str(path)], monkeypatch,
                   tmp_path)
        assert str(path) in capsys.readouterr().err


def test_every_key_round_trips_through_the_environment():
    settings = Settings()
    assert set(settings.to_mapping()) == set(config_keys())
    assert Settings.from_mapping(settings.to_mapping()) == settings


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


@pytest.mark.parametrize("argv", [["--model", "/models/llama"], ["--model=/models/llama"]])
def test_model_is_sglangs_flag_not_a_prefix_of_model_preset(monkeypatch, tmp_path, argv):
    settings, out = _parse(argv, monkeypatch, tmp_path)
    assert out[:len(argv)] == argv  # passed through to SGLang as given
    assert "--device" not in out  # a model of the user's, not a preset
    assert settings == Settings()


@pytest.mark.parametrize("prefix", ["--continuum-pol", "--continuum-max"])
def test_no_abbreviation_of_our_flags(monkeypatch, tmp_path, prefix):
    settings, argv = _parse(["--model-path", "m", prefix, "fixed"], monkeypatch, tmp_path)
    assert prefix in argv and settings == Settings()


DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _doc_rows() -> dict[str, list[str]]:
    """The doc's table rows by their first cell (backticks stripped)."""
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 4:
            rows[cells[0].strip("`").split()[0]] = cells
    return rows


def test_every_flag_is_documented():
    import argparse

    ap = argparse.ArgumentParser()
    flags.add_cli_args(ap)
    ours = [s for a in ap._actions for s in a.option_strings if s.startswith("--continuum-")]
    rows = _doc_rows()
    missing = [flag for flag in ours if flag not in rows]
    assert not missing, f"document these flags in {DOC.name}: {missing}"


def test_every_config_key_is_documented_with_its_default():
    rows = _doc_rows()
    defaults = Settings().to_mapping()
    missing = [key for key in config_keys() if key not in rows]
    assert not missing, f"document these config keys in {DOC.name}: {missing}"
    for key in config_keys():
        documented = json.loads(rows[key][1].strip("`"))
        assert documented == defaults[key], f"{key}: doc says {documented}, " \
                                            f"the code {defaults[key]}"
    assert "host_tier" not in rows  # not a key
    stale = [name for name in rows if not name.startswith("--") and name not in config_keys()]
    assert not stale, f"{DOC.name} documents keys the launcher refuses: {stale}"
