"""``python -m sglang_continuum.launch_server``: SGLang's server with the overlay (the public command name; the code is
in :mod:`sglang_continuum.server.launch`)."""

from sglang_continuum.server.launch import *  # noqa: F401,F403
from sglang_continuum.server.launch import main

if __name__ == "__main__":
    main()
