"""Program inference: which agent program a request that sent no program id belongs
to, and what its finished turns mean (the concept the adapter and the simulator share).

:class:`ProgramInference` is the one entry point. On arrival it returns the request's
``(key, proven)``: the program whose finished turn the prompt continues (proven), else a
new program (unproven until a prompt continues it). On finish it returns ``(last_turn,
open_ended, p_continue)``. It owns the learned first-turn share that the queue order
reads (core/turns.py hands it to the policy). The three parts below are its rules:

Tool detection
--------------
Which tool a model output calls: OpenAI-style tool calls, else one ```bash block.

Identity (which finished turn does a prompt continue?)
------------------------------------------------------
An agent that sends no program id still resends its whole conversation each turn, so
its next prompt begins with its last turn's context (prompt + output). The rule, for a
prompt Q of a tenant and a finished turn T of the same tenant (prompt P tokens, output
O tokens, context L = P + O):

1. Q is longer than P and begins with T's whole prompt. Samples filter first (the
   first ``head_tokens``, the last ``probe_tokens`` before the output, and ``samples``
   tokens evenly spaced in between, read with one strided slice); a turn that passes
   them and rule 2 is verified on the whole prefix: a 128-bit digest of Q[:P] equals
   the one recorded for T's prompt (as SGLang's and vLLM's prefix caches key blocks by
   hashes). Two programs whose prompts differ where no sample falls are told apart.
2. The agreement l = P + a, where a is how far Q agrees with T's output (read up to
   ``output_tokens``; all of them agreeing counts as the whole output), covers most of
   the context: l >= ``min_fraction`` * L. Chat templates re-render the previous
   assistant message, so its tokens may differ from the generated ids (near the end,
   or from the first token when the text does not re-tokenize to the same ids): the
   rule asks for a longest common prefix covering most of the context, not for an
   exact extension.
3. Among the turns that pass, the one with the longest agreement a wins, then the most
   recently finished. Reaching into T's *output* is what tells two programs apart that
   share a system prompt and a first user message: their prompts are equal, their
   outputs are not. So a winner with a = 0 stands only when it is the only turn that
   passed; two or more such turns are ambiguous and the prompt starts a new program
   (a missed inference, never a merge). A matched turn is consumed: one context is
   continued once.

The sampled checks cost a fixed number of short slice comparisons per candidate; the
digest reads the prompt once per lookup that found candidates (one streaming hash,
digested at each candidate's length, longest last) and once per recorded turn: XXH3
where the ``xxhash`` package is installed (SGLang requires it; tens of microseconds for
a 40k-token prompt), BLAKE2b otherwise. Only a digest collision (2^-128) can merge two
programs; a wrong match would cost only scheduling (a lock consumed by the wrong
program), never correctness: KV reuse is the radix tree's exact match.

Memory is bounded: at most ``max_entries`` finished turns (one per program, its latest),
each holding about ``head_tokens + probe_tokens + samples + output_tokens`` ids and a
digest; turns
older than ``max_age_s`` are dropped. Nothing here reads a clock: ``now`` is passed in.

What a finished turn may lock, and whether it ended its program
----------------------------------------------------------------
An inferred program is only a guess until evidence arrives. A request that continues no
finished turn starts a new inferred program; it might be an agent's first turn, or a
single-turn request that will never be continued (plain traffic beside the agents). The
rule, per finished turn:

- The output calls a tool (``detect_tool``): the program is an agent; lock as for
  an explicit program, and remember that it calls tools.
- No tool call, and the program called tools before: it answered instead of calling a
  tool, so its context will not be extended (the ``last_turn`` an explicit agent sends).
- No tool call, no tool seen before, and a later prompt already continued the program
  (``proven``): an agent whose tool-call format is not recognised (or a chat user who
  keeps talking); lock as for an explicit program.
- Otherwise (a first turn with no tool call): an agent's first turn or plain traffic.
  It locks with its gain weighted by the learned share of such turns that were
  continued, and only where that share is at least one half (``FirstTurns``): plain
  traffic alone locks nothing; the request ranks as a plain request (its rank moves
  with the same share, queue_order.QueueRanks).

Memory is bounded: the programs known to call tools are an LRU set of ``max_programs``
keys. Pure: no clock, no SGLang.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from array import array
from collections import OrderedDict, deque
from dataclasses import dataclass
from itertools import islice
from typing import NamedTuple, Sequence

from .lock_table import ProgramKey

try:  # SGLang depends on it; the core runs without it (the simulator alone)
    import xxhash
except ImportError:  # pragma: no cover - exercised where xxhash is absent
    xxhash = None


# Tool detection ------------------------------------------------------------------

TOOL_NAME = re.compile(r"[A-Za-z0-9_.:/-]{1,64}")
_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
_OBJECT_START = re.compile(r"\{\s*\"")
_NAME_FIELD = re.compile(r"\"name\"\s*:\s*\"([^\"]{1,64})\"")
_SHELL_BLOCK = re.compile(r"```(?:bash|sh)[ \t]*\n(.*?)```", re.DOTALL)
_MAX_DECODE_ATTEMPTS = 64  # bounds the work on outputs full of braces
_DECODER = json.JSONDecoder()


def detect_tool(text: str) -> str | None:
    """The first tool the output calls, or None.

    1. A JSON tool call: inside `<tool_call>...</tool_call>` (the closing tag may be cut
       off by a stop string), or anywhere as {"type": "function", "function": {"name":
       ...}}, {"name": ..., "arguments": ...} or {"tool_calls": [...]}.
    2. Else, when the output holds exactly one fenced ```bash (or ```sh) block, the first
       word of its first non-empty line.
    Names must match [A-Za-z0-9_.:/-]{1,64}.
    """
    if not text:
        return None
    for block in _TOOL_CALL.findall(text):
        name = _first_json_name(block, require_arguments=False)
        if name is None:
            match = _NAME_FIELD.search(block)
            name = _valid(match.group(1)) if match else None
        if name is not None:
            return name
    name = _first_json_name(text, require_arguments=True)
    if name is not None:
        return name
    blocks = _SHELL_BLOCK.findall(text)
    if len(blocks) != 1:
        return None
    for line in blocks[0].splitlines():
        words = line.split()
        if words:
            return _valid(words[0])
    return None


def _first_json_name(text: str, require_arguments: bool) -> str | None:
    pos, attempts = 0, 0
    while attempts < _MAX_DECODE_ATTEMPTS:
        match = _OBJECT_START.search(text, pos)
        if match is None:
            return None
        attempts += 1
        try:
            obj, end = _DECODER.raw_decode(text, match.start())
        except ValueError:
            pos = match.start() + 1
            continue
        name = _call_name(obj, require_arguments)
        if name is not None:
            return name
        pos = end
    return None


def _call_name(obj: object, require_arguments: bool) -> str | None:
    if isinstance(obj, list):
        return _call_name(obj[0], require_arguments) if obj else None
    if not isinstance(obj, dict):
        return None
    function = obj.get("function")
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return _valid(function["name"])
    calls = obj.get("tool_calls")
    if isinstance(calls, list) and calls:
        return _call_name(calls[0], require_arguments=False)
    name = obj.get("name")
    if isinstance(name, str) and (not require_arguments or "arguments" in obj
                                  or "parameters" in obj):
        return _valid(name)
    return None


def _valid(name: str) -> str | None:
    return name if TOOL_NAME.fullmatch(name) else None


# Identity ------------------------------------------------------------------------

@dataclass(frozen=True)
class IdentityConfig:
    """Knobs of program inference. Invalid values raise ValueError naming the field."""

    head_tokens: int = 32  # bucket key; shorter prompts are never inferred
    probe_tokens: int = 4
    samples: int = 16  # tokens compared between the head and the prompt's last block
    output_tokens: int = 64
    min_fraction: float = 0.9
    max_candidates: int = 64  # most recent turns examined per lookup
    max_entries: int = 16_384
    max_age_s: float = 600.0
    # Record prompts with no output (the DP router sees requests, not their outputs):
    # a prompt then continues the latest recorded prompt it extends; siblings whose
    # recorded prompts are equal are ambiguous and start a new program.
    prompt_only: bool = False

    def __post_init__(self) -> None:
        for name in ("head_tokens", "probe_tokens", "output_tokens", "max_candidates",
                     "max_entries"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"IdentityConfig.{name}: expected an integer >= 1, got {v!r}")
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) \
                or self.samples < 0:
            raise ValueError(f"IdentityConfig.samples: expected an integer >= 0, "
                             f"got {self.samples!r}")
        f = self.min_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f <= 1:
            raise ValueError(f"IdentityConfig.min_fraction: expected a number in [0, 1], "
                             f"got {f!r}")
        a = self.max_age_s
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a) \
                or a <= 0:
            raise ValueError(f"IdentityConfig.max_age_s: expected a finite number > 0, "
                             f"got {a!r}")
        if not isinstance(self.prompt_only, bool):
            raise ValueError(f"IdentityConfig.prompt_only: expected true or false, "
                             f"got {self.prompt_only!r}")


@dataclass(slots=True)  # not frozen: its __init__ runs once per finished request
class _Turn:
    """The fingerprint of a finished turn's context."""

    key: ProgramKey
    bucket: tuple
    prompt_len: int
    output_len: int
    end_at: int  # the prompt's last block, [end_at, end_to): most candidates fail on
    end_to: int  # it, so it is kept apart
    end_ids: array
    step: int  # the samples are prompt[head_tokens:end_at:step]
    samples: array
    output_head: array
    finished_at: float
    digest: bytes  # of the whole prompt (PrefixDigest)


class PrefixDigest:
    """Digests of the prefixes of one sequence of token ids whose slices are
    ``array('q')`` (an array is read in place), read once: asked for increasing lengths,
    each id is hashed once (a longer prefix continues the stream; a shorter one than the
    last asked starts a new stream)."""

    __slots__ = ("_ids", "_hasher", "_at")

    def __init__(self, ids: Sequence[int]) -> None:
        self._ids = memoryview(ids) if isinstance(ids, array) else ids
        self._hasher = None
        self._at = 0

    def __call__(self, n: int) -> bytes:
        if self._hasher is None or n < self._at:
            self._hasher = xxhash.xxh3_128() if xxhash is not None \
                else hashlib.blake2b(digest_size=16)
            self._at = 0
        self._hasher.update(self._ids[self._at:n])
        self._at = n
        return self._hasher.digest()


class IdentityTable:
    """Finished turns of programs without an id, looked up by the prompts that follow.

    ``continues(tenant, prompt, now)`` names the program a prompt continues (consuming
    that turn) or None; ``record(key, prompt, output, now)`` remembers a finished turn.
    Token sequences are any sequences of ints; one whose slices are ``array('q')``
    (SGLang's ``array('q')``, the simulator's synthetic ids) is read in place, any
    other is copied once: the few short slices read are compared as ``array('q')``.
    """

    def __init__(self, config: IdentityConfig | None = None) -> None:
        self.config = config or IdentityConfig()
        # Plain dicts keep insertion order: the oldest finish first, the newest last.
        self._buckets: dict[tuple, dict[ProgramKey, _Turn]] = {}
        self._by_key: dict[ProgramKey, _Turn] = {}
        self.matched = 0  # prompts found to continue a finished turn
        self.started = 0  # prompts that continue none: first turns of new programs

    def __len__(self) -> int:
        return len(self._by_key)

    def continues(self, tenant: str, prompt: Sequence[int], now: float) -> ProgramKey | None:
        """The program whose finished turn `prompt` continues, or None. A match
        consumes the turn."""
        cfg = self.config
        h = cfg.head_tokens
        n = len(prompt)
        if n <= h:
            return None
        empty = prompt[:0]  # SGLang's Req and the simulator's ids slice as array('q')
        if type(empty) is not array or empty.typecode != "q":
            prompt = array("q", prompt)
        self._expire(now)
        bucket = self._buckets.get((tenant, prompt[:h].tobytes()))
        if not bucket:
            return None
        best, best_a, passed = None, -1, 0
        full, min_fraction = cfg.output_tokens, cfg.min_fraction
        digest = None  # read only when a candidate passes the sampled checks
        for turn in islice(reversed(bucket.values()), cfg.max_candidates):
            p = turn.prompt_len
            if n <= p or prompt[turn.end_at:turn.end_to] != turn.end_ids \
                    or prompt[h:turn.end_at:turn.step] != turn.samples:
                continue
            head = turn.output_head
            a = _agreement(prompt, p, head) if head and prompt[p] == head[0] else 0
            total = p + turn.output_len
            if (total if a == len(head) else p + a) < min_fraction * total:
                continue
            if digest is None:
                digest = PrefixDigest(prompt)
            if digest(p) != turn.digest:
                continue  # differs where no sample fell
            passed += 1
            if a > best_a:
                best, best_a = turn, a
                if a >= full:
                    break  # no older turn can agree further; ties go to the newest
        if best is None or (best_a == 0 and passed > 1):
            return None
        self._remove(best.key)
        self.matched += 1
        return best.key

    def start(self, tenant: str, request_id: str) -> ProgramKey:
        """The key of a new program whose first turn is request `request_id`."""
        self.started += 1
        return (tenant, f"~{request_id}")

    def record(self, key: ProgramKey, prompt: Sequence[int], output: Sequence[int],
               now: float) -> None:
        """Remember the finished turn of `key` (replacing the program's previous one)."""
        cfg = self.config
        if key in self._by_key:
            self._remove(key)
        p, h = len(prompt), cfg.head_tokens
        if p <= h or not (output or cfg.prompt_only):
            return  # too short to key, or nothing to tell siblings apart by
        by_key = self._by_key
        if by_key:
            self._expire(now)
            while len(by_key) >= cfg.max_entries:
                self._remove(next(iter(by_key)))
        empty = prompt[:0]
        if type(empty) is not array or empty.typecode != "q":
            prompt = array("q", prompt)  # once: the digest reads it whole
        k = cfg.probe_tokens
        end = max(h, p - k)
        bucket = (key[0], _cut(prompt, 0, h).tobytes())
        end_ids = _cut(prompt, end, end + k)
        # samples=0 leaves one: the token at head_tokens (a step past the end).
        step = max(1, (end - h) // cfg.samples) if cfg.samples else end + 1
        turn = _Turn(key, bucket, p, len(output), end, end + len(end_ids), end_ids, step,
                     _cut(prompt, h, end, step), _cut(output, 0, cfg.output_tokens), now,
                     PrefixDigest(prompt)(p))
        by_key[key] = turn
        turns = self._buckets.get(bucket)
        if turns is None:
            self._buckets[bucket] = {key: turn}
        else:
            turns[key] = turn

    def forget(self, key: ProgramKey) -> None:
        self._remove(key)

    def _remove(self, key: ProgramKey) -> None:
        turn = self._by_key.pop(key, None)
        if turn is None:
            return
        bucket = self._buckets[turn.bucket]
        del bucket[key]
        if not bucket:
            del self._buckets[turn.bucket]

    def _expire(self, now: float) -> None:
        horizon = now - self.config.max_age_s
        by_key = self._by_key
        while by_key:
            turn = next(iter(by_key.values()))
            if turn.finished_at >= horizon:
                return
            self._remove(turn.key)


def _cut(seq: Sequence[int], start: int, stop: int, step: int = 1) -> array:
    """seq[start:stop:step] as an ``array('q')``, as SGLang's arrays slice, and compared
    with memcmp speed (a list is converted, only this short slice of it)."""
    piece = seq[start:stop:step]
    return piece if type(piece) is array and piece.typecode == "q" else array("q", piece)


def _agreement(prompt: array, start: int, head: array) -> int:
    """How many leading ids of `head` equal prompt[start:] (binary search on slices)."""
    if prompt[start:start + len(head)] == head:
        return len(head)
    lo, hi = 1, len(head) - 1  # caller checked head[0]; the whole head did not agree
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if prompt[start:start + mid] == head[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


# Finished turns ------------------------------------------------------------------

class InferredTurn(NamedTuple):
    lockable: bool
    last_turn: bool


class InferredPrograms:
    def __init__(self, max_programs: int = 16_384) -> None:
        if isinstance(max_programs, bool) or not isinstance(max_programs, int) \
                or max_programs < 1:
            raise ValueError(f"InferredPrograms.max_programs: expected an integer >= 1, "
                             f"got {max_programs!r}")
        self._max = max_programs
        self._tool_callers: OrderedDict[ProgramKey, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tool_callers)

    def finished(self, key: ProgramKey, proven: bool, tool: str | None) -> InferredTurn:
        """Classify a finished turn of inferred program `key` (see the module doc)."""
        callers = self._tool_callers
        if tool is not None:
            if key in callers:
                callers.move_to_end(key)
            else:
                if len(callers) >= self._max:
                    callers.popitem(last=False)
                callers[key] = None
            return InferredTurn(True, False)
        if key in callers:
            del callers[key]
            return InferredTurn(False, True)
        return InferredTurn(proven, False)


# Where requests that continued nothing are at least this likely agents' first turns,
# they are treated as such: they lock (FirstTurns.p_continue) and, under pressure, take
# only a new program's locks (queue_order.QueueRanks.plain_bound).
AGENT_SHARE = 0.5


class FirstTurns:
    """How often a request that continued nothing (an unproven first turn) is continued.

    At arrival an agent's first turn and a plain single-turn request look the same; the
    mix of the two can be learned. Each unproven turn that finishes is pending until a
    prompt continues it (``continued``: an agent's first turn) or until ``horizon_s``
    passes without one (``expire``: plain traffic, or an agent whose tool outran the
    horizon: the estimate errs toward plain, the safe side). ``share`` is the continued
    fraction of the last ``window`` outcomes under a uniform prior (one continued, one
    not: 1/2 before any evidence, so a fresh server's first wave of agents is not taken
    for plain traffic). ``p_continue`` is the share where first turns are at least as
    likely continued as not (``share >= min_share``), else 0: plain traffic alone drives
    it to 0 within a few outcomes (1/4 after two), and locks nothing.

    Whether a first turn locks is learned per tenant (``p_continue_for``): a tenant's own
    last ``window`` outcomes, with the other tenants' share as a prior worth two
    outcomes (one tenant alone: the shared share).
    One tenant's traffic then moves only the prior of the others: its plain requests
    cannot stop another tenant's agents from locking, nor its agents make another
    tenant's plain traffic lock, once that tenant has outcomes of its own. (The queue
    rank of requests with no program reads the shared share.) Pure: ``now`` is passed
    in; memory bounded by ``max_pending`` and ``max_tenants`` (least recently seen
    tenant first; a tenant is a bounded string, core/tenants.py).
    """

    def __init__(self, window: int = 64, max_pending: int = 16_384,
                 min_share: float = AGENT_SHARE, max_tenants: int = 4096) -> None:
        for name, v in (("window", window), ("max_pending", max_pending),
                        ("max_tenants", max_tenants)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"FirstTurns.{name}: expected an integer >= 1, got {v!r}")
        if isinstance(min_share, bool) or not isinstance(min_share, (int, float)) \
                or not 0 <= min_share <= 1:
            raise ValueError(f"FirstTurns.min_share: expected a number in [0, 1], "
                             f"got {min_share!r}")
        self._min_share = min_share
        self._pending: OrderedDict[ProgramKey, float] = OrderedDict()
        self._max_pending = max_pending
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._continued = 0  # True entries in _outcomes
        self.share = 0.5
        # tenant -> [outcome bits (newest lowest), outcomes held, continued among them]
        self._tenants: OrderedDict[str, list[int]] = OrderedDict()
        self._max_tenants = max_tenants

    def __len__(self) -> int:
        return len(self._pending)

    def finished(self, key: ProgramKey, now: float) -> None:
        """An unproven turn of `key` finished at `now`: its fate is pending."""
        self._pending.pop(key, None)
        self._pending[key] = now
        if len(self._pending) > self._max_pending:
            dropped, _ = self._pending.popitem(last=False)
            self._outcome(False, _tenant(dropped))

    def continued(self, key: ProgramKey) -> None:
        """A prompt continued `key` (a no-op unless its first turn is pending)."""
        if self._pending.pop(key, None) is not None:
            self._outcome(True, _tenant(key))

    def expire(self, now: float, horizon_s: float) -> None:
        """Pending turns that finished more than `horizon_s` ago were not continued."""
        pending, horizon = self._pending, now - horizon_s
        while pending:
            key, at = next(iter(pending.items()))
            if at >= horizon:
                return
            del pending[key]
            self._outcome(False, _tenant(key))

    def tenants(self) -> int:
        """Tenants with outcomes of their own."""
        return len(self._tenants)

    def p_continue_for(self, tenant: str) -> float:
        """p_continue for a first turn of `tenant`: its own outcomes, the shared share
        as a prior worth two."""
        own = self._tenants.get(tenant)
        n, c = (own[1], own[2]) if own is not None else (0, 0)
        # The prior: the shared window less this tenant's outcomes (approximately: the
        # windows differ), under the uniform prior. With one tenant it is 1/2, and the
        # tenant's share is the shared one.
        others_n = max(0, len(self._outcomes) - n)
        others_c = min(others_n, max(0, self._continued - c))
        prior = (others_c + 1) / (others_n + 2)
        share = (c + 2 * prior) / (n + 2)
        return share if share >= self._min_share else 0.0

    def _outcome(self, continued: bool, tenant: str) -> None:
        tenants = self._tenants
        own = tenants.get(tenant)
        if own is None:
            if len(tenants) >= self._max_tenants:
                tenants.popitem(last=False)
            own = tenants[tenant] = [0, 0, 0]
        else:
            tenants.move_to_end(tenant)
        window = self._outcomes.maxlen
        if own[1] == window:  # the oldest outcome leaves the tenant's window
            own[2] -= (own[0] >> (window - 1)) & 1
            own[0] &= (1 << (window - 1)) - 1
        else:
            own[1] += 1
        own[0] = (own[0] << 1) | continued
        own[2] += continued
        outcomes = self._outcomes
        if len(outcomes) == outcomes.maxlen and outcomes[0]:
            self._continued -= 1
        outcomes.append(continued)
        self._continued += continued
        self.share = (self._continued + 1) / (len(outcomes) + 2)

    @property
    def p_continue(self) -> float:
        """The probability an unproven first turn's lock is used, where first turns are
        at least as likely continued as not; else 0 (no lock)."""
        return self.share if self.share >= self._min_share else 0.0


def _tenant(key) -> str:
    """The tenant of a ProgramKey; a key of any other shape is the default tenant's."""
    return key[0] if type(key) is tuple else ""


# The entry point ---------------------------------------------------------------------


class Arrival(NamedTuple):
    """The program of a request that sent no id: `proven` when its prompt continued a
    finished turn of `key`; else `key` is a new program's."""

    key: ProgramKey
    proven: bool


class Verdict(NamedTuple):
    """What a finished turn of an inferred program means for the policy: whether it
    ended its program, whether a last turn will ever be announced (never: open_ended),
    and the probability its context is continued (it scales the gain of a lock)."""

    last_turn: bool
    open_ended: bool
    p_continue: float


class ProgramInference:
    """Program inference for requests that carry no program id (see the module doc).

    ``learn_first_turns``: learn how often a first turn with no tool call is continued
    (``FirstTurns``) and lock such turns by that share; False: they never lock, and
    requests that continued nothing rank as plain ones (share 0).
    """

    def __init__(self, learn_first_turns: bool = True,
                 identity: IdentityConfig | None = None, max_programs: int = 16_384,
                 expire_every_s: float = 0.25) -> None:
        self.identity = IdentityTable(identity)
        self.programs = InferredPrograms(max_programs)
        self.first_turns = FirstTurns() if learn_first_turns else None
        self._expire_every_s = expire_every_s
        self._next_expire = -math.inf

    @property
    def min_prompt_tokens(self) -> int:
        """Prompts no longer than this are never inferred (health checks, probes)."""
        return self.identity.config.head_tokens + 1

    @property
    def share(self) -> float:
        """The learned share of first turns that a later prompt continued (0 when not
        learned): the rank of requests that continued nothing moves with it."""
        return self.first_turns.share if self.first_turns is not None else 0.0

    @property
    def started(self) -> int:
        return self.identity.started

    @property
    def matched(self) -> int:
        return self.identity.matched

    def arrival(self, tenant: str, prompt: Sequence[int], request_id: str,
                now: float) -> Arrival | None:
        """The program of a request of `tenant` that sent no id (None: too short to be
        keyed, a plain request): the one whose finished turn `prompt` continues, else a
        new one named after `request_id`."""
        if len(prompt) < self.min_prompt_tokens:
            return None
        key = self.identity.continues(tenant, prompt, now)
        if key is None:
            return Arrival(self.identity.start(tenant, request_id), False)
        if self.first_turns is not None:
            self.first_turns.continued(key)
        return Arrival(key, True)

    def finished(self, key: ProgramKey, proven: bool, tool: str | None,
                 prompt: Sequence[int], output: Sequence[int], now: float) -> Verdict:
        """A turn of inferred program `key` finished having called `tool` (None: no
        tool call detected)."""
        verdict = self.programs.finished(key, proven, tool)
        if verdict.last_turn:
            self.identity.forget(key)
            return Verdict(True, True, 1.0)
        self.identity.record(key, prompt, output, now)
        first_turns = self.first_turns
        if not proven and first_turns is not None:
            first_turns.finished(key, now)
        if verdict.lockable:
            return Verdict(False, True, 1.0)
        # A first turn with no tool call: an agent's or plain traffic. The gain of a
        # lock counts only if a prompt continues it (the learned share; 0 where plain
        # traffic dominates, or when first turns are not learned).
        return Verdict(False, True,
                       first_turns.p_continue_for(key[0]) if first_turns else 0.0)

    def expire(self, now: float, horizon_s: float) -> bool:
        """First turns pending longer than `horizon_s` count as not continued (checked
        at most every ``expire_every_s``: it runs every engine step). True when it ran."""
        first_turns = self.first_turns
        if first_turns is None or not first_turns or now < self._next_expire:
            return False
        self._next_expire = now + self._expire_every_s
        first_turns.expire(now, horizon_s)
        return True
