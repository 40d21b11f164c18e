"""Reading the audit log: what `assay audit log` and `GET /v1/audit` share (the `since` filter,
and an entry as a document with its chain hashes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from assay.registry.records import AuditEntry


def parse_since(value: str) -> datetime:
    """An ISO 8601 date or time as a UTC-aware datetime (UTC when it has no offset); ValueError
    with a message that shows the expected form otherwise."""
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset that takes it past year 1 or 9999
        raise ValueError(f"{value!r} is not an ISO 8601 date or time, e.g. 2026-11-01T09:00Z") from None


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    """Every field of `entry`, with `seq`, `prev_hash` and `hash`, so a reader can re-check the chain."""
    return {"seq": entry.seq, "at": entry.at, "actor": entry.actor, "action": entry.action, "subject": entry.subject,
            "details": dict(entry.details), "prev_hash": entry.prev_hash, "hash": entry.hash}


__all__ = ["entry_dict", "parse_since"]
