from sglang_continuum.bench_overhead.cli import main

raise SystemExit(main())
