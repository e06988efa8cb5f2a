"""Operator commands against a running server: the prefill profiler
(``profile_prefill``), the prefill/decode step profiler for the simulator
(``profile_steps``) and the fault-injecting soak (``soak``)."""
