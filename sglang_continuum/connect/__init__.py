"""Connect agents to a Continuum server: one module per way in.

- ``connect.frontend``: SGLang frontend-language agents (``ContinuumEndpoint``,
  ``agent_program``, ``last_turn``); imports ``sglang.lang``.
- ``connect.openai_agent``: ``openai`` SDK agents (``ProgramSession``,
  ``continuum_extra_body``).
- ``connect.gateway``: several servers behind the smg gateway with program affinity.

Submodules are imported on demand so one way in does not pull in the others' deps.
"""

from sglang_continuum.connect.fields import ROUTING_HEADER, custom_params, routing_headers

__all__ = ["ROUTING_HEADER", "custom_params", "routing_headers"]
