"""The start-up check that refuses to run the overlay on an SGLang whose seams moved.

Driven against the installed SGLang, with targets renamed by monkeypatching: the
report must name each missing seam and the SGLang version found."""

from __future__ import annotations

import pytest

pytest.importorskip("sglang")

from sglang.srt.managers.schedule_batch import Req  # noqa: E402
from sglang.srt.managers.scheduler import Scheduler  # noqa: E402

from sglang_continuum.server import launch as launch_server  # noqa: E402
from sglang_continuum.adapter import seams  # noqa: E402
from sglang_continuum.adapter.hooks import HOOKS, check_seams  # noqa: E402

TARGET = "sglang.srt.managers.scheduler.Scheduler._add_request_to_queue"


def test_the_installed_sglang_has_every_seam():
    report = check_seams()
    assert report.ok, report.message()
    assert report.sglang_version == "0.5.23"


def test_a_renamed_hook_target_is_named_with_the_version(monkeypatch):
    original = Scheduler._add_request_to_queue
    monkeypatch.delattr(Scheduler, "_add_request_to_queue")
    monkeypatch.setattr(Scheduler, "_add_request_to_queue_v2", original, raising=False)
    report = check_seams()
    assert not report.ok
    assert f"hook target {TARGET}: not found" in report.missing
    msg = report.message()
    assert "SGLang 0.5.23" in msg and TARGET in msg and "--continuum-disable" in msg


def test_a_target_the_registry_did_not_patch_is_refused():
    targets = {t for t, _, _ in HOOKS}
    report = check_seams_with_patched(targets - {TARGET})
    assert report.missing == (f"hook target {TARGET}: found but HookRegistry did not "
                              "patch it",)


def check_seams_with_patched(patched):
    class Registry:
        _patched = patched
    return check_seams(Registry)


def test_a_renamed_parameter_is_named(monkeypatch):
    monkeypatch.setattr(Scheduler, "_add_request_to_queue",
                        lambda self, request, is_retracted=False: None)
    report = check_seams()
    assert f"{TARGET}: no parameter 'req'" in report.missing


def test_instance_attributes_are_read_from_the_class_source():
    assert seams._has_member(Req, "prefix_len")  # set in __init__ only
    assert seams._has_member(Req, "last_node")
    assert not seams._has_member(Req, "prefix_len_v2")
    report = seams.check([], members={"sglang.srt.managers.schedule_batch.Req":
                                      ("prefix_len", "prefix_len_v2")}, parameters={})
    assert report.missing == ("sglang.srt.managers.schedule_batch.Req.prefix_len_v2: "
                              "not found",)


def test_the_launcher_refuses_to_start_naming_the_seam(monkeypatch):
    monkeypatch.delattr(Scheduler, "_add_request_to_queue")
    with pytest.raises(SystemExit) as e:
        launch_server.verify_seams_or_exit()
    assert TARGET in str(e.value.code) and "0.5.23" in str(e.value.code)
