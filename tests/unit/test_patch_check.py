"""The launcher names the patches missing from the installed SGLang."""

from __future__ import annotations

import logging
import shutil

import pytest

from sglang_continuum.server import launch, patching

pytestmark = pytest.mark.skipif(shutil.which("patch") is None, reason="needs GNU patch")

PATCH = """\
--- a/python/sglang/mod.py
+++ b/python/sglang/mod.py
@@ -1,2 +1,2 @@
 def f():
-    return 1
+    return 2
"""


def _tree(tmp_path, body):
    root = tmp_path / "site"
    (root / "sglang").mkdir(parents=True)
    (root / "sglang" / "mod.py").write_text(body)
    patch = tmp_path / "0001-demo.patch"
    patch.write_text(PATCH)
    return root, patch


def test_an_unapplied_patch_is_missing_and_an_applied_one_is_not(tmp_path):
    root, patch = _tree(tmp_path, "def f():\n    return 1\n")
    assert patching.missing(root, [patch]) == ["0001-demo.patch"]
    assert patching._patch(["--forward"], patch, root).returncode == 0
    assert patching.missing(root, [patch]) == []


def test_a_conflicting_patch_is_missing(tmp_path):
    root, patch = _tree(tmp_path, "def g():\n    return 3\n")
    assert patching.missing(root, [patch]) == ["0001-demo.patch"]


def test_the_launcher_warns_naming_each_missing_patch(monkeypatch, caplog):
    monkeypatch.setattr(patching, "missing", lambda: ["0002-a.patch", "0016-b.patch"])
    with caplog.at_level(logging.WARNING, logger=launch.logger.name):
        assert launch.warn_missing_patches() == ["0002-a.patch", "0016-b.patch"]
    assert "0002-a.patch, 0016-b.patch" in caplog.text
    assert "sglang_continuum.server.patching apply" in caplog.text


def test_the_installed_sglang_has_every_patch():
    pytest.importorskip("sglang")
    assert patching.missing() == []
