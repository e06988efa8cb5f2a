"""``--model-preset``: the launcher builds the preset's dummy model and its server flags."""

from __future__ import annotations

import json

import pytest

from sglang_continuum.server import launch as launch_server
from sglang_continuum.server import presets


def _parse(argv, monkeypatch, tmp_path):
    monkeypatch.setenv("SGLANG_CONTINUUM_CACHE", str(tmp_path))
    return launch_server.parse(argv)


def _value(argv, flag):
    assert argv.count(flag) == 1, argv
    return argv[argv.index(flag) + 1]


def test_testbed_preset_writes_its_config_and_pool(monkeypatch, tmp_path):
    _, argv = _parse(["--model-preset", "testbed-100m"], monkeypatch, tmp_path)
    folder = tmp_path / "testbed-100m-v1"
    assert _value(argv, "--model-path") == str(folder)
    config = json.loads((folder / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"],
            config["num_key_value_heads"], config["torch_dtype"]) == (1024, 8, 16, 4, "bfloat16")
    assert (folder / "tokenizer.json").exists()
    assert _value(argv, "--max-total-tokens") == "6000"
    assert _value(argv, "--load-format") == "dummy"
    assert _value(argv, "--attention-backend") == "torch_native"
    assert 80e6 < presets.get("testbed-100m").parameters() < 120e6


def test_user_flags_win_over_the_preset(monkeypatch, tmp_path):
    _, argv = _parse(["--model-preset", "testbed-100m", "--max-total-tokens", "9000",
                      "--continuum-disable"], monkeypatch, tmp_path)
    assert _value(argv, "--max-total-tokens") == "9000"
    assert "--radix-cache-backend" not in argv


def test_default_is_still_the_tiny_model(monkeypatch, tmp_path):
    _, argv = _parse([], monkeypatch, tmp_path)
    assert _value(argv, "--model-path") == str(tmp_path / "tiny-llama-v1")
    assert _value(argv, "--max-total-tokens") == "16384"
    config = json.loads((tmp_path / "tiny-llama-v1" / "config.json").read_text())
    assert config["hidden_size"] == 256
    assert presets.get("tiny").parameters() < 10e6


def test_unknown_preset_and_preset_with_model_path_are_refused(monkeypatch, tmp_path, capsys):
    with pytest.raises(SystemExit):
        _parse(["--model-preset", "huge"], monkeypatch, tmp_path)
    err = capsys.readouterr().err
    assert "--model-preset 'huge'" in err and "testbed-100m" in err
    with pytest.raises(SystemExit):
        _parse(["--model-preset", "tiny", "--model-path", "m"], monkeypatch, tmp_path)
    assert "not both" in capsys.readouterr().err


def test_overlay_on_the_preset_prices_rebuilds_with_its_profile(monkeypatch, tmp_path):
    from sglang_continuum.core import PolicyConfig, PrefillModel

    settings, _ = _parse(["--model-preset", "testbed-100m"], monkeypatch, tmp_path)
    assert settings.policy.prefill_profile == PrefillModel.from_dict(
        presets.get("testbed-100m").prefill_profile)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"prefill_profile": {"a": 0.01, "b": 2e-4, "c": 0.0}}))
    settings, _ = _parse(["--model-preset", "testbed-100m", "--continuum-config",
                          str(cfg)], monkeypatch, tmp_path)
    assert settings.policy.prefill_profile == PrefillModel(0.01, 2e-4, 0.0)
    settings, _ = _parse([], monkeypatch, tmp_path)
    assert settings.policy.prefill_profile == PolicyConfig().prefill_profile
