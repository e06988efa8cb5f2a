"""``python -m sglang_continuum.profile_decode``: measure a running server's prefill and decode step times for the simulator (the public command name; the code is
in :mod:`sglang_continuum.tools.profile_steps`)."""

from sglang_continuum.tools.profile_steps import *  # noqa: F401,F403
from sglang_continuum.tools.profile_steps import main

if __name__ == "__main__":
    raise SystemExit(main())
