"""experiments/live/arms.py: every arm's server command parses with the launcher's parser
(no server started), and an arm's research knobs reach the settings through its config
file, never as a flag SGLang would be handed."""

from __future__ import annotations

import json

import pytest

from sglang_continuum.adapter.settings import Settings
from sglang_continuum.core import PrefillModel
from sglang_continuum.server import launch

from tests.unit.live_modules import live_modules


@pytest.fixture(scope="module")
def arms():
    with live_modules("arms") as arms:
        yield arms


def _names():
    with live_modules("arms") as arms:
        return [a.name for a in arms.ARMS]


@pytest.mark.parametrize("name", _names())
def test_every_arm_parses_with_the_launcher(arms, name, monkeypatch, tmp_path):
    monkeypatch.setenv("SGLANG_CONTINUUM_CACHE", str(tmp_path / "models"))
    arm = arms.arm(name)
    profile = tmp_path / "prefill-profile.json"
    profile.write_text(json.dumps({"a": 0.0, "b": 3e-4, "c": 1e-8, "source": "test"}))
    config = arms.write_config(arm, tmp_path / "logs", name, profile)
    argv = arms.server_flags(arm, 6000, "testbed-100m", config)
    settings, sglang_argv = launch.parse(argv + ([] if arm.overlay else
                                                 ["--continuum-disable"]))
    assert not any(a.startswith("--continuum-") for a in sglang_argv), sglang_argv
    if not arm.overlay:
        assert settings is None and config is None
        return
    assert settings.policy.prefill_profile == PrefillModel(0.0, 3e-4, 1e-8)
    mapping = settings.to_mapping()
    for key, value in arm.settings().items():
        assert mapping[key] == value, (name, key)
    assert Settings.from_mapping(mapping) == settings


def test_research_arms_differ_from_the_default(arms):
    configured = [a for a in arms.ARMS if a.config]
    assert configured, "no arm sets a research knob"
    default = Settings().to_mapping()
    for arm in configured:
        keys = arm.settings()
        assert keys and set(keys) <= set(default), arm.name
        # the default spelled out, kept for old runs (the "-younger" arms: the default's
        # pressure scope while the default was "host", experiments/live/host-map; the
        # "-nlr" arms: host_locks "room" before it became the default, host-nlr; the
        # "-fits" arms: host_locks "fits" before it became the default, host-fits2)
        if arm.name != "overlay-plain-aged" and "-younger" not in arm.name \
                and "-nlr" not in arm.name and "-fits" not in arm.name:
            assert any(default[k] != v for k, v in keys.items()), arm.name
