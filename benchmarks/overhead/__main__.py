from benchmarks.overhead.cli import main

raise SystemExit(main())
