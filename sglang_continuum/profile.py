"""``python -m sglang_continuum.profile``: measure prefill time on a running server (the public command name; the code is
in :mod:`sglang_continuum.tools.profile_prefill`)."""

from sglang_continuum.tools.profile_prefill import *  # noqa: F401,F403
from sglang_continuum.tools.profile_prefill import main

if __name__ == "__main__":
    raise SystemExit(main())
