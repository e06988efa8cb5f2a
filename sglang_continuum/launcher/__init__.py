"""Starting real SGLang servers as processes: ``server.launch`` runs the overlay's launcher
in a subprocess and waits until it serves; ``client`` is a minimal token-id client.
The demo, the fuzzer, the soak, the experiments and the end-to-end tests use it;
``testbed_link`` paces the host tier for the live testbed. The production plugin never
imports this package unless a testbed run sets its variable."""
