"""The audit chain's encoding is fixed (a changed encoding would break every stored chain), and the
verifier names the first broken link on entries built in memory."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from assay.registry.audit_chain import GENESIS_HASH, entry_hash, hash_of, verify_chain
from assay.registry.records import AuditEntry

AT = datetime(2026, 11, 28, 10, 30, 0, 5, tzinfo=timezone(timedelta(hours=1)))
CANONICAL = ('[7,"2026-11-28T09:30:00.000005+00:00","alice","alias.moved","credit@production",'
             '{"a":["é",null],"b":1.5},"' + GENESIS_HASH + '"]')


def test_the_hash_is_sha256_of_the_documented_canonical_encoding() -> None:
    digest = entry_hash(seq=7, at=AT, actor="alice", action="alias.moved", subject="credit@production",
                        details={"b": 1.5, "a": ["é", None]}, prev_hash=GENESIS_HASH)
    assert digest == hashlib.sha256(CANONICAL.encode("utf-8")).hexdigest()
    assert digest == "455aaf9460fdd4b1b8efb6241935fdc77d74dfe8ab6e1d694e29a9b3ea1cafb3"


def test_key_order_and_offset_do_not_change_the_hash() -> None:
    one = entry_hash(seq=1, at=AT, actor="a", action="x", subject="s", details={"a": 1, "b": {"d": 2, "c": 3}},
                     prev_hash=GENESIS_HASH)
    two = entry_hash(seq=1, at=AT.astimezone(UTC), actor="a", action="x", subject="s",
                     details={"b": {"c": 3, "d": 2}, "a": 1}, prev_hash=GENESIS_HASH)
    assert one == two


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        entry_hash(seq=1, at=datetime(2026, 1, 1), actor="a", action="x", subject="s", details={},
                   prev_hash=GENESIS_HASH)


def chain(count: int) -> list[AuditEntry]:
    return chain_with_seqs(list(range(1, count + 1)))


def test_an_empty_log_is_intact_at_the_genesis_value() -> None:
    verdict = verify_chain([])
    assert verdict.intact and verdict.entries == 0 and verdict.head_hash == GENESIS_HASH


def test_a_gap_of_several_entries_is_named() -> None:
    entries = chain(6)
    broken = verify_chain(entries[:2] + entries[5:]).broken
    assert broken is not None and broken.missing_seqs == (3, 5) and "seq 3–5 is absent" in broken.detail


def test_a_seq_gap_with_intact_links_is_not_a_break() -> None:
    # PostgreSQL sequences skip numbers when a transaction rolls back; the links decide.
    entries = chain_with_seqs([2, 5, 9])
    assert verify_chain(entries).intact


def chain_with_seqs(seqs: list[int]) -> list[AuditEntry]:
    entries, prev = [], GENESIS_HASH
    for seq in seqs:
        entry = AuditEntry(seq=seq, at=AT, actor="a", action="x", subject=f"s{seq}", details={"n": seq},
                           prev_hash=prev)
        entry = replace(entry, hash=hash_of(entry, prev))
        entries.append(entry)
        prev = entry.hash
    return entries
