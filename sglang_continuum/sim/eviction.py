"""Eviction orders of the simulator's prefix cache: stock SGLang's own strategies.

As in SGLang's ``mem_cache/evict_policy.py`` an order is a pure key function; the cache's
eviction driver knows nothing of it. SGLang keys radix *nodes*; the simulator holds one
linear prefix per program, so an order splits a prefix into at most two parts, trimmed
from the tail: ``parts(length, access, info)`` -> ``((start, priority), ...)``, tail
part first, the tokens ``[start, length)`` of a part evicted at ``priority`` (smaller
first; the last part starts at 0). A part's priority is never below the one after it,
so a prefix is still trimmed from its tail.

- ``LRU``: last access (``--radix-eviction-policy lru``, the default).
- ``SLRU``: tokens inserted by fewer than ``protected_threshold`` finished requests
  (SGLang's node ``hit_count``, counted per insert) are probationary and go first, LRU
  within each segment (``slru``). Token hit counts come from the latest inserts' lengths.
- ``TLRU``: tail-optimized LRU (``tlru``): a prefix whose high-water length is L keeps
  ``L + next_prompt_estimate - threshold`` tokens; the tokens past that are TEL-safe
  and go first (phase 1), then plain LRU (phase 2).
- ``Sessions``: radix-native sessions (``--enable-session-radix-cache``): a live
  session's prefix holds a soft reference, evicted only after every unreferenced token
  (then LRU); the session closes when its program ends.
- ``ProgramAge``: not stock: ended programs' prefixes first (LRU among them), then the
  youngest program's (latest first admission), in the host tier (``host_key``: the
  stock orders here evict host copies LRU) and, with ``device``, on the device too:
  the cache-side twin of the program FCFS queue and of the lock-pressure rule
  (youngest gives way first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class PrefixInfo:
    """What the cache remembers of a program's prefix beyond its length and access."""
    inserts: list[int] = field(default_factory=list)  # latest inserted lengths, newest last
    high_water: int = 0          # longest the cached prefix has been (T-LRU's L)
    closed: bool = False         # the program ended (its session, if any, is closed)
    seq: int = 0                 # order of the program's first admission (0: first)


class EvictionOrder(Protocol):
    history: int  # how many insert lengths PrefixInfo.inserts keeps

    def parts(self, length: int, access: float, info: PrefixInfo) -> tuple:
        """``((start, priority), ...)``, tail part first, the last one starting at 0."""


@dataclass(frozen=True)
class LRU:
    history: int = 0

    def parts(self, length: int, access: float, info: PrefixInfo) -> tuple:
        return ((0, (0, access)),)


@dataclass(frozen=True)
class SLRU:
    protected_threshold: int = 2   # SGLang's default

    def __post_init__(self):
        if not isinstance(self.protected_threshold, int) or self.protected_threshold < 1:
            raise ValueError(f"SLRU.protected_threshold={self.protected_threshold!r}: "
                             "expected an int >= 1")

    @property
    def history(self) -> int:
        return self.protected_threshold

    def parts(self, length: int, access: float, info: PrefixInfo) -> tuple:
        ins = info.inserts
        protected = min(ins) if len(ins) >= self.protected_threshold else 0
        if protected >= length:
            return ((0, (1, access)),)
        if protected <= 0:
            return ((0, (0, access)),)
        return ((protected, (0, access)), (0, (1, access)))


@dataclass(frozen=True)
class TLRU:
    threshold: int = 0              # tokens a next prefill may recompute (TTFT budget)
    next_prompt_estimate: int = 0   # tokens the next prompt is expected to add

    def __post_init__(self):
        for name in ("threshold", "next_prompt_estimate"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"TLRU.{name}={v!r}: expected an int >= 0 (tokens)")

    history = 0

    def parts(self, length: int, access: float, info: PrefixInfo) -> tuple:
        keep = max(info.high_water + self.next_prompt_estimate - self.threshold, 0)
        if keep >= length:
            return ((0, (0, access)),)
        if keep <= 0:
            return ((0, (-1, access)),)
        return ((keep, (-1, access)), (0, (0, access)))


@dataclass(frozen=True)
class Sessions:
    history: int = 0

    def parts(self, length: int, access: float, info: PrefixInfo) -> tuple:
        return ((0, (0 if info.closed else 1, access)),)


def _age_key(access: float, info: PrefixInfo, by_age: bool = True) -> tuple:
    return (0, access) if info.closed else (1, -info.seq if by_age else access)


@dataclass(frozen=True)
class ProgramAge:
    history = 0
    device: bool = True    # False: LRU on the device, by program age in the host tier only
    by_age: bool = True    # False: ended programs first, then LRU (no age)

    def parts(self, length: int, access: float, info: PrefixInfo) -> tuple:
        return ((0, _age_key(access, info, self.by_age) if self.device else (0, access)),)

    def host_key(self, access: float, info: PrefixInfo) -> tuple:
        """The host tier's eviction key (PrefixCache; stock orders have none: LRU)."""
        return _age_key(access, info, self.by_age)
