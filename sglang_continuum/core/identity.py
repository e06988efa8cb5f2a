"""Program identity for requests that carry none: which finished turn does a prompt continue?

An agent that sends no program id still resends its whole conversation each turn, so
its next prompt begins with its last turn's context (prompt + output). The rule, for a
prompt Q of a tenant and a finished turn T of the same tenant (prompt P tokens, output
O tokens, context L = P + O):

1. Q is longer than P and agrees with T's prompt (checked on samples: the first
   ``head_tokens``, the last ``probe_tokens`` before the output, and ``samples`` tokens
   evenly spaced in between, read with one strided slice).
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

The checks cost a fixed number of short slice comparisons per candidate, whatever the
prompt's length, so a lookup costs microseconds. The sampled prompt check is not an
exact comparison; a wrong match costs only scheduling (a lock consumed by the wrong
program), never correctness: KV reuse is the radix tree's exact match.

Memory is bounded: at most ``max_entries`` finished turns (one per program, its latest),
each holding about ``head_tokens + probe_tokens + samples + output_tokens`` ids; turns
older than ``max_age_s`` are dropped. Nothing here reads a clock: ``now`` is passed in.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from itertools import islice
from typing import Sequence

from .programs import ProgramKey


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


class IdentityTable:
    """Finished turns of programs without an id, looked up by the prompts that follow.

    ``continues(tenant, prompt, now)`` names the program a prompt continues (consuming
    that turn) or None; ``record(key, prompt, output, now)`` remembers a finished turn.
    Token sequences are any sliceable sequences of ints (lists, ``array('q')``):
    the few short slices read are compared as ``array('q')``.
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
        if type(prompt) is not array or prompt.typecode != "q":
            prompt = array("q", prompt)  # SGLang's Req already holds array('q')
        self._expire(now)
        bucket = self._buckets.get((tenant, prompt[:h].tobytes()))
        if not bucket:
            return None
        best, best_a, passed = None, -1, 0
        full, min_fraction = cfg.output_tokens, cfg.min_fraction
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
        k = cfg.probe_tokens
        end = max(h, p - k)
        bucket = (key[0], _cut(prompt, 0, h).tobytes())
        end_ids = _cut(prompt, end, end + k)
        # samples=0 leaves one: the token at head_tokens (a step past the end).
        step = max(1, (end - h) // cfg.samples) if cfg.samples else end + 1
        turn = _Turn(key, bucket, p, len(output), end, end + len(end_ids), end_ids, step,
                     _cut(prompt, h, end, step), _cut(output, 0, cfg.output_tokens), now)
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
