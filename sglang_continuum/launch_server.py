"""``python -m sglang_continuum.launch_server``: SGLang's server with the overlay (the
command users run; the code is :mod:`sglang_continuum.server.launch`)."""

from sglang_continuum.server.launch import main

if __name__ == "__main__":
    main()
