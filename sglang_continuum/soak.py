"""``python -m sglang_continuum.soak``: a soak of a running server with injected faults (the public command name; the code is
in :mod:`sglang_continuum.tools.soak`)."""

from sglang_continuum.tools.soak import *  # noqa: F401,F403
from sglang_continuum.tools.soak import main

if __name__ == "__main__":
    raise SystemExit(main())
