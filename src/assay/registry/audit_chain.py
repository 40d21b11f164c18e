"""The audit log's hash chain: how an entry's hash is computed, and how a chain is checked.

Each entry commits to its own content and to the hash of the entry before it, so editing,
deleting or reordering any stored entry changes a hash that every later entry depends on.
The encoding is fixed here, independent of the database: a JSON array with sorted keys and
no spaces, timestamps as UTC ISO 8601 with microseconds. SQLite and PostgreSQL both store
the details as JSON text that parses back to the same values, so a re-computed hash is the
same on either backend.

A chain alone cannot show that entries were cut off its end (a shorter chain is still a
valid chain): anchor the head hash somewhere else and pass it back as `expect_head`; the
entry that had it must still be in the chain (entries appended since are checked by the links).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from assay.registry.records import AuditEntry

# What the first entry chains from: no entry before it.
GENESIS_HASH = "0" * 64

# Written by migration 0004 after it chained the entries that existed before the chain did.
CHAIN_STARTED_ACTION = "audit.chain_started"


def canonical_time(at: datetime) -> str:
    """`at` in UTC, ISO 8601 with microseconds: `2026-11-28T09:30:00.000000+00:00`."""
    if at.tzinfo is None:
        raise ValueError(f"audit time must be timezone-aware, got naive {at.isoformat()}")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(
    *, seq: int, at: datetime, actor: str, action: str, subject: str, details: Mapping[str, Any], prev_hash: str
) -> str:
    """The sha256 (hex) an entry with this content, chained after `prev_hash`, must carry."""
    payload = [seq, canonical_time(at), actor, action, subject, dict(details), prev_hash]
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def hash_of(entry: AuditEntry, prev_hash: str) -> str:
    return entry_hash(seq=entry.seq, at=entry.at, actor=entry.actor, action=entry.action,
                      subject=entry.subject, details=entry.details, prev_hash=prev_hash)


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place the chain does not hold.

    `problem` is one of:
    - "edited": the entry's stored hash does not match its content (it, or its hash, was changed);
    - "unlinked": the entry does not chain from the entry before it (an entry between them was
      deleted, or entries were reordered, or its prev_hash was changed); `missing_seqs` names the
      seq numbers absent between the two, when there are any;
    - "anchor-missing": every link holds but no entry has the expected head hash (entries were
      cut off the end, the log was rewritten from some entry on, or the anchor is from another log).
    """

    problem: str
    seq: int | None
    at: datetime | None
    action: str | None
    detail: str
    missing_seqs: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """The result of walking the whole chain once."""

    entries: int
    head_seq: int | None
    head_hash: str
    chain_started_seq: int | None  # entries up to this seq existed before the chain (see decision 0022)
    broken: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def verify_chain(entries: Iterable[AuditEntry], *, expect_head: str | None = None) -> ChainVerdict:
    """Walk `entries` in seq order, recompute every hash, stop at the first broken link.

    Consumes the iterable once and keeps only the previous entry, so a store can stream it.
    """
    count = 0
    anchor = None if expect_head is None else expect_head.lower()
    anchor_seen = anchor is None
    prev: AuditEntry | None = None
    prev_hash = GENESIS_HASH
    chain_started: int | None = None
    for entry in entries:
        count += 1
        if entry.prev_hash != prev_hash:
            return _verdict(count, prev, chain_started, _unlinked(entry, prev, prev_hash))
        expected = hash_of(entry, entry.prev_hash)
        if entry.hash != expected:
            return _verdict(count, prev, chain_started, ChainBreak(
                problem="edited", seq=entry.seq, at=entry.at, action=entry.action,
                detail=f"entry {entry.seq} does not match its hash: its content (at, actor, action, subject or "
                       f"details) or its stored hash was changed after it was written",
            ))
        if entry.action == CHAIN_STARTED_ACTION and chain_started is None:
            last = entry.details.get("last_existing_seq")
            chain_started = last if isinstance(last, int) else None
        anchor_seen = anchor_seen or entry.hash == anchor
        prev, prev_hash = entry, entry.hash
    if not anchor_seen:
        where = f"at entry {prev.seq} with hash {prev.hash}" if prev is not None else "empty"
        return _verdict(count, prev, chain_started, ChainBreak(
            problem="anchor-missing", seq=None if prev is None else prev.seq, at=None if prev is None else prev.at,
            action=None if prev is None else prev.action,
            detail=f"every link holds, but no entry has the expected head hash {anchor} (the chain ends {where}): "
                   f"entries were removed from the end, the log was rewritten from some entry on, or the anchor "
                   f"is from another log",
        ))
    return _verdict(count, prev, chain_started, None)


def _unlinked(entry: AuditEntry, prev: AuditEntry | None, prev_hash: str) -> ChainBreak:
    if prev is None:
        detail = (f"entry {entry.seq} is the first entry but does not chain from the genesis value: "
                  f"the entries before it were deleted, or its prev_hash was changed")
        missing = (1, entry.seq - 1) if entry.seq > 1 else None
    else:
        detail = (f"entry {entry.seq} does not chain from entry {prev.seq} (prev_hash {entry.prev_hash[:12]}…, "
                  f"entry {prev.seq} hashes to {prev_hash[:12]}…): an entry between them was deleted, entries "
                  f"were reordered, or its prev_hash was changed")
        missing = (prev.seq + 1, entry.seq - 1) if entry.seq > prev.seq + 1 else None
    if missing is not None:
        detail += f"; seq {missing[0]}–{missing[1]} is absent" if missing[0] != missing[1] \
            else f"; seq {missing[0]} is absent"
    return ChainBreak(problem="unlinked", seq=entry.seq, at=entry.at, action=entry.action, detail=detail,
                      missing_seqs=missing)


def _verdict(count: int, last_good: AuditEntry | None, chain_started: int | None,
             broken: ChainBreak | None) -> ChainVerdict:
    return ChainVerdict(
        entries=count,
        head_seq=None if last_good is None else last_good.seq,
        head_hash=GENESIS_HASH if last_good is None else last_good.hash,
        chain_started_seq=chain_started,
        broken=broken,
    )


__all__ = ["CHAIN_STARTED_ACTION", "GENESIS_HASH", "ChainBreak", "ChainVerdict", "canonical_time", "entry_hash",
           "hash_of", "verify_chain"]
