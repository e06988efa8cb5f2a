"""Fuzz campaign against a live SGLang server with the overlay.

``python -m sglang_continuum.fuzz --cases N [--seed S] [--url URL] [--report out.json]``
draws N request bodies (Hypothesis strategies, reproducible by seed) over the categories
in ``cases.CATEGORIES`` for ``/generate``, ``/v1/completions`` and
``/v1/chat/completions``, sends them beside real agent programs that hold TTL locks,
and checks the server lives, answers only 2xx or 4xx-with-a-message, and ends idle with
no locked token and a whole KV pool.

Modules: ``values`` (value strategies), ``bodies`` and ``structure`` (one strategy per
category), ``cases`` (registry, reproducible drawing), ``send`` (one request, verdict),
``agents`` (the agent programs), ``campaign`` (batches, health, final state),
``report`` (table, JSON).
"""
