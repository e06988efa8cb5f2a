"""Benchmarks of the overlay, kept beside the package (not in the wheel): run from the
checkout's root, e.g. ``python -m benchmarks.overhead``."""
