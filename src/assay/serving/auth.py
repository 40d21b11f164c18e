"""API-key checks on the request path: the stored key records, cached in-process for a few seconds.

Looking a key up in the metadata store on every request would put a database round trip on the
hot path; the cache holds each record (and each unknown id) for `ttl_s`, so a revocation takes
effect on every replica within that time. The verification itself (hash, constant-time compare,
role) runs on every request.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from assay.security.keys import (
    Action,
    ApiKey,
    ForbiddenError,
    can,
    key_id,
    parse_bearer,
    verified_record,
)

_MAX_ENTRIES = 10_000  # ids remembered, known and unknown: a flood of random ids cannot grow memory


class KeyCache:
    def __init__(self, lookup: Callable[[str], ApiKey | None], *, ttl_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, ApiKey | None]] = OrderedDict()
        self._verified: dict[bytes, tuple[float, ApiKey]] = {}  # header digest -> (expiry, record)

    async def authorize(self, header: str | None, action: Action) -> ApiKey:
        """The key record behind `header` if it may do `action`; 401/403 errors otherwise
        (see `assay.security.keys.authorize`)."""
        record = await self.verify(header)
        if not can(record.role, action):
            raise ForbiddenError(record, Action(action))
        return record

    async def verify(self, header: str | None) -> ApiKey:
        """The key record behind `header`, whatever its role; 401 errors when there is none.

        A header that verified within the TTL is recognised by its SHA-256 digest and skips parsing
        and verification (comparing digests leaks nothing about the key); revocation is checked on
        every call.
        """
        digest = None if header is None else hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()
        verified = None if digest is None else self._verified.get(digest)
        if verified is not None and verified[0] > self._clock() and not verified[1].is_revoked:
            return verified[1]
        key = parse_bearer(header)
        record = await self.record(key_id(key))
        checked = verified_record(key, lambda _: record)
        assert digest is not None  # parse_bearer raised for a missing header
        self._verified[digest] = (self._entries[checked.id][0], checked)
        while len(self._verified) > _MAX_ENTRIES:
            self._verified.pop(next(iter(self._verified)))
        return checked

    async def record(self, kid: str) -> ApiKey | None:
        now = self._clock()
        entry = self._entries.get(kid)
        if entry is not None and entry[0] > now:
            return entry[1]
        record = await asyncio.to_thread(self._lookup, kid)
        self._entries[kid] = (now + self._ttl_s, record)
        self._entries.move_to_end(kid)
        while len(self._entries) > _MAX_ENTRIES:
            self._entries.popitem(last=False)
        return record


__all__ = ["KeyCache"]
