"""``python -m sglang_continuum.patching``: apply, check or revert the overlay's patches to the installed SGLang (the public command name; the code is
in :mod:`sglang_continuum.server.patching`)."""

from sglang_continuum.server.patching import *  # noqa: F401,F403
from sglang_continuum.server.patching import main

if __name__ == "__main__":
    raise SystemExit(main())
