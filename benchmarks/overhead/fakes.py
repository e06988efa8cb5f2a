"""Stand-ins for the SGLang objects the Controller reads, so the policy bench needs no
scheduler: a request with exactly the attributes the adapter touches, a cache whose
locks are opaque objects, and a settable clock."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from types import SimpleNamespace

from sglang_continuum.workload import BUNDLED_TRACE, load_trace

_TOOL_OK = re.compile(r"[^A-Za-z0-9_.:/-]")


class SimClock:
    """Simulated seconds; the Controller takes it as its clock."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class StubCache:
    """lock/unlock/is_root as the Controller calls them; nothing is held."""

    def lock(self, node):
        return SimpleNamespace(node=node)

    def unlock(self, handle) -> None:
        pass

    def is_root(self, node) -> bool:
        return False


@dataclass
class FakeReq:
    """The attributes of ``sglang.srt.managers.schedule_batch.Req`` the adapter reads."""

    rid: str
    sampling_params: SimpleNamespace
    # range(n) where only len() is read (it costs no memory); the program's token ids
    # (array('q'), as SGLang's) where the overlay infers programs from them
    origin_input_ids: object
    output_ids: object
    last_node: object = 1
    prefix_len: int = 0
    num_matched_prefix_tokens: int = 0  # SGLang sets it to 0 and updates it per match
    is_retracted: bool = False
    routing_key: str | None = None
    cache_salt: str | None = None
    extra_key: str | None = None
    finished_reason: object = None
    done: bool = False
    extra: dict = field(default_factory=dict)

    def finished(self) -> bool:
        return self.done


def make_req(rid: str, program: str | None, prompt: int, output: int,
             tool: str | None = None, last: bool = False, ids=None) -> FakeReq:
    """`ids`: the prompt's token ids (SGLang's ``array('q')``); its output ids then
    start empty, as a queued request's do, and the caller sets them when it finishes.
    Without `ids` both are ranges of the right length."""
    custom = None
    if program is not None:
        custom = {"program_id": program, "last_turn": last}
        if tool:
            custom["tool"] = tool
    return FakeReq(rid, SimpleNamespace(custom_params=custom, max_new_tokens=output),
                   range(prompt) if ids is None else ids,
                   range(output) if ids is None else ids[:0])


def safe_tool(name: str | None) -> str | None:
    """A trace tool name as the overlay's `tool` hint accepts it."""
    if not name:
        return None
    return _TOOL_OK.sub("_", name)[:64]


def tool_gaps(limit: int, seed: int = 0, path=BUNDLED_TRACE) -> list[tuple[str | None, float]]:
    """(tool, seconds) of the trace's tool calls (the bundled one by default), resampled
    to `limit` pairs."""
    rng = random.Random(f"gaps:{seed}")
    pairs = [(safe_tool(t.tool), t.gap_s) for prog in load_trace(path)
             for t in prog.turns[:-1] if t.gap_s > 0]
    return [rng.choice(pairs) for _ in range(limit)]
