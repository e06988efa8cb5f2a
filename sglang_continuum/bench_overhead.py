"""``python -m sglang_continuum.bench_overhead``: the overlay's overhead benchmark (the
command name is kept). The benchmark lives beside the package, in a source checkout's
``benchmarks/overhead/``; ``python -m benchmarks.overhead`` runs it too."""

if __name__ == "__main__":
    try:
        from benchmarks.overhead.cli import main
    except ImportError:
        raise SystemExit("the overhead benchmark ships with the source, not the wheel: run "
                         "`python -m benchmarks.overhead` in a checkout's root") from None
    raise SystemExit(main())
