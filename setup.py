"""Everything is in pyproject.toml except one build step: the wheel carries the
top-level ``patches/`` as ``sglang_continuum/_patches/`` (where ``patching`` finds them
when installed; an editable install reads ``patches/`` in the checkout)."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithPatches(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib, "sglang_continuum", "_patches")
        self.mkpath(str(target))
        for patch in sorted(Path(__file__).resolve().parent.joinpath("patches").glob("*.patch")):
            self.copy_file(str(patch), str(target / patch.name))


setup(cmdclass={"build_py": BuildWithPatches})
