"""No module imports from a layer above its own.

Layers, bottom up: the pure core and the workload; the SGLang adapter and the simulator,
which drive the core; the server, the agent-side helpers, the replay and the process
launcher, which use those; the tools, fuzzer, demo, benchmarks and experiments on top.
Imports are read with ``ast`` (function-level ones included), so a lazy import counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "sglang_continuum"
LAYERS = {
    "core": 0, "workload": 0,
    "adapter": 1, "sim": 1,
    "server": 2, "connect": 2, "replay": 2, "launcher": 2, "launch_server": 2,
    "tools": 3, "fuzz": 3, "demo": 3, "benchmarks": 3, "experiments": 3,
}
# What outside the package counts as a layer: the benchmarks and experiments beside it.
OUTSIDE = ("benchmarks", "experiments")


def part_of(module: str) -> str | None:
    """The layer's name of a dotted module name; None outside this repository's code (and
    for the package itself, whose ``__init__`` imports nothing of it)."""
    parts = module.split(".")
    if parts[0] == PACKAGE:
        return parts[1] if len(parts) > 1 else None
    return parts[0] if parts[0] in OUTSIDE else None


def imported(module: str, source: str, is_package: bool) -> list[str]:
    """Every module name ``source`` imports, relative imports resolved."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name == PACKAGE:  # from sglang_continuum import core
                out += [f"{PACKAGE}.{alias.name}" for alias in node.names]
            else:
                out.append(name)
    return out


def upward_imports(modules: dict[str, tuple[str, bool]]) -> list[str]:
    """``{module: (source, is_package)}`` -> every import of a higher layer, and every
    module of a part with no layer (give it one in LAYERS)."""
    bad = []
    for module, (source, is_package) in sorted(modules.items()):
        own = part_of(module)
        if own is None:
            continue
        if own not in LAYERS:
            bad.append(f"{module}: '{own}' has no layer (add it to LAYERS)")
            continue
        for name in imported(module, source, is_package):
            other = part_of(name)
            if other is None or other == own:
                continue
            if other not in LAYERS:
                bad.append(f"{module} imports {name}: '{other}' has no layer")
            elif LAYERS[other] > LAYERS[own]:
                bad.append(f"{module} (layer {LAYERS[own]}, {own}) imports {name} "
                           f"(layer {LAYERS[other]}, {other})")
    return bad


def repository_modules() -> dict[str, tuple[str, bool]]:
    out = {}
    for path in (ROOT / PACKAGE).rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        is_package = rel.name == "__init__"
        parts = rel.parts[:-1] if is_package else rel.parts
        out[".".join(parts)] = (path.read_text(), is_package)
    return out


def test_no_module_imports_from_a_layer_above_its_own():
    modules = repository_modules()
    assert f"{PACKAGE}.core.policy" in modules and f"{PACKAGE}.server.plugin" in modules
    bad = upward_imports(modules)
    assert not bad, "imports up the layers:\n" + "\n".join(bad)


@pytest.mark.parametrize("module, source, is_package", [
    ("sglang_continuum.core.x", "from sglang_continuum.adapter import cache", False),
    ("sglang_continuum.core.x", "import sglang_continuum.sim.engine", False),
    ("sglang_continuum.core.x", "from ..server import plugin", False),
    ("sglang_continuum.adapter", "from ..server.flags import add_cli_args", True),
    ("sglang_continuum.adapter.cache", "def f():\n    from sglang_continuum import launcher",
     False),
    ("sglang_continuum.connect.gateway", "from sglang_continuum.tools import soak", False),
    ("sglang_continuum.server.plugin", "import benchmarks.overhead", False),
    ("sglang_continuum.newpart.x", "import json", False),
])
def test_a_planted_upward_import_fails(module, source, is_package):
    modules = {module: (source, is_package),
               "sglang_continuum.core.ok": ("from . import config\nimport math", False),
               "sglang_continuum.tools.ok": ("from sglang_continuum.server import launch",
                                             False)}
    bad = upward_imports(modules)
    assert len(bad) == 1 and bad[0].startswith(module), bad


def test_imports_down_and_across_a_layer_pass():
    modules = {
        "sglang_continuum.adapter.cache": ("from sglang_continuum.core import PolicyConfig\n"
                                           "from .settings import Settings", False),
        "sglang_continuum.replay.run": ("from sglang_continuum.launcher.server import launch",
                                        False),
        "sglang_continuum.sim.bridge": ("from ..core import turns\n"
                                        "from sglang_continuum.workload import load", False),
    }
    assert upward_imports(modules) == []
