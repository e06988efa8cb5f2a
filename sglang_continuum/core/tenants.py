"""The tenant of a request: the namespace its programs, locks and learned statistics
live in, derived from SGLang's own cache namespaces.

SGLang keeps a request's KV apart by ``cache_salt`` and by ``extra_key`` (to which it
appends the LoRA adapter's id), both in its ``RadixKey``: requests that differ in either
never share KV, so they are distinct tenants here too. Both are client strings with no
length limit, and the tenant is part of the key of every per-program table: a tenant
longer than ``MAX_TENANT_CHARS`` is replaced by a fixed-size digest, so one table entry
costs a bounded number of bytes whatever the client sent. Pure: no SGLang, no clock.
"""

from __future__ import annotations

import hashlib

MAX_TENANT_CHARS = 64
DEFAULT_TENANT = ""


def tenant(cache_salt: str | None, extra_key: str | None) -> str:
    """The tenant of a request with this ``cache_salt`` and ``extra_key`` (the LoRA id
    already appended, as SGLang's ``Req`` holds it). Neither: the default tenant "".

    Each part is length-prefixed, so no two pairs give one string ("x" as a salt is not
    "x" as an extra key); a long one is a 32-hex-digit BLAKE2b digest of that string,
    marked "#" (a readable tenant never starts with "#")."""
    parts = []
    if cache_salt:
        parts.append(f"s{len(cache_salt)}:{cache_salt}")
    if extra_key:
        parts.append(f"k{len(extra_key)}:{extra_key}")
    name = "".join(parts)
    if len(name) <= MAX_TENANT_CHARS:
        return name
    digest = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=16)
    return "#" + digest.hexdigest()
