"""``python -m sglang_continuum.launch_server``: SGLang's server with the overlay.

Every SGLang server argument works as usual; the ``--continuum-*`` flags are added
(see ``--help``). Without ``--model-path`` it serves a locally built dummy-weight model
on the CPU (``--model-preset``, default ``tiny``; see ``server/presets.py``), with the
flags known to work there; any flag you pass wins over those defaults.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from sglang_continuum.adapter import settings as settings_mod
from sglang_continuum.server import flags, presets

logger = logging.getLogger(__name__)

# Known-good flags for the tiny random-weight model on a CPU-only machine.
CPU_TINY_DEFAULTS = {
    "--device": "cpu",
    "--attention-backend": "torch_native",
    "--sampling-backend": "pytorch",
    "--disable-cuda-graph": None,
    "--load-format": "dummy",
    "--max-total-tokens": "16384",
    "--mem-fraction-static": "0.1",
    "--host": "127.0.0.1",
    "--dtype": "bfloat16",
    # An idle scheduler otherwise spins a whole core; on a 2-core machine that halves
    # the speed of everything else. Idle, it wakes at least once a second (TTL expiry).
    "--sleep-on-idle": None,
}


def _has_flag(argv: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in argv)


def build_sglang_argv(rest: list[str], enabled: bool, preset: str | None = None) -> list[str]:
    argv = list(rest)
    has_model = _has_flag(argv, "--model-path") or _has_flag(argv, "--model")
    if preset is not None and has_model:
        raise ValueError(f"--model-preset {preset!r}: a preset builds its own model; "
                         "pass either --model-preset or --model-path, not both")
    if not has_model:
        chosen = presets.get(preset or presets.DEFAULT)
        argv += ["--model-path", str(chosen.ensure())]
        for flag, value in {**CPU_TINY_DEFAULTS, **chosen.server_defaults}.items():
            if not _has_flag(argv, flag):
                argv += [flag] if value is None else [flag, value]
    if enabled:
        if _has_flag(argv, "--radix-cache-backend"):
            raise SystemExit("--radix-cache-backend is set by the overlay; pass "
                             "--continuum-disable to choose another backend")
        argv += ["--radix-cache-backend", settings_mod.BACKEND_NAME]
        if not _has_flag(argv, "--enable-metrics"):
            argv += ["--enable-metrics"]
    return argv


def _with_preset_profile(settings: settings_mod.Settings,
                         preset: presets.ModelPreset) -> settings_mod.Settings:
    """The preset's measured prefill fit, unless the user chose one."""
    from dataclasses import replace

    from sglang_continuum.core import PolicyConfig, PrefillModel

    if preset.prefill_profile is None \
            or settings.policy.prefill_profile != PolicyConfig().prefill_profile:
        return settings
    profile = PrefillModel.from_dict(preset.prefill_profile)
    return replace(settings, policy=replace(settings.policy, prefill_profile=profile))


def parse(argv: list[str]) -> tuple[settings_mod.Settings | None, list[str]]:
    """Split our flags from SGLang's; returns (settings or None if disabled, sglang argv)."""
    # No abbreviations: SGLang's flags pass through, and argparse would otherwise take
    # one of them for a prefix of ours (--model for --model-preset).
    ap = argparse.ArgumentParser(
        prog="python -m sglang_continuum.launch_server", add_help=False, allow_abbrev=False,
        description="SGLang server with the Continuum overlay. All SGLang flags apply.")
    flags.add_cli_args(ap)
    ap.add_argument("--model-preset", metavar="NAME", default=None,
                    help="serve a locally built dummy-weight model on the CPU: "
                    + "; ".join(f"{p.name}: {p.summary}" for p in presets.PRESETS.values())
                    + f" (default {presets.DEFAULT} when no --model-path is given)")
    ns, rest = ap.parse_known_args(argv)
    if "-h" in rest or "--help" in rest:
        ap.print_help()
        print("\nAll `python -m sglang.launch_server` flags are accepted too:\n")
        return None, rest
    enabled = not ns.continuum_disable
    try:
        settings = flags.settings_from_args(ns) if enabled else None
        sglang_argv = build_sglang_argv(rest, enabled, ns.model_preset)
        if settings is not None and ns.model_preset is not None:
            settings = _with_preset_profile(settings, presets.get(ns.model_preset))
    except ValueError as e:
        ap.error(str(e))
    return settings, sglang_argv


def verify_seams_or_exit() -> None:
    """Refuse to start when a seam the overlay needs moved in the installed SGLang."""
    from sglang.srt.plugins.hook_registry import HookRegistry

    from sglang_continuum.adapter.hooks import check_seams

    report = check_seams(HookRegistry)
    if not report.ok:
        raise SystemExit(report.message())
    logger.info("%s", report.message())


def warn_missing_patches() -> list[str]:
    """Log, by name, the patches of ``patches/`` missing from the installed SGLang: the
    input checks among them keep one malformed request from killing the scheduler (on
    CUDA, a device-side assert). The server still starts: they are SGLang's fixes, not
    the overlay's."""
    from sglang_continuum.server import patching

    try:
        names = patching.missing()
    except (OSError, SystemExit) as e:  # no GNU patch, or no patches shipped
        logger.warning("could not check SGLang's patches: %s", e)
        return []
    if names:
        logger.warning("%d patch(es) not applied to this SGLang: %s; apply them with "
                       "`python -m sglang_continuum.server.patching apply` "
                       "(docs/gpu.md says what each one fixes)", len(names), ", ".join(names))
    return names


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    settings, sglang_argv = parse(argv)
    if settings is not None:
        os.environ[settings_mod.ENV_VAR] = settings.to_json()
    else:
        os.environ.pop(settings_mod.ENV_VAR, None)
    from sglang.launch_server import run_server
    from sglang.srt.plugins import load_plugins
    from sglang.srt.server_args import prepare_server_args
    from sglang.srt.utils import kill_process_tree

    load_plugins()
    if settings is not None:
        verify_seams_or_exit()
        warn_missing_patches()
    server_args = prepare_server_args(sglang_argv)
    try:
        run_server(server_args)
    finally:
        kill_process_tree(os.getpid(), include_parent=False)


if __name__ == "__main__":
    main()
