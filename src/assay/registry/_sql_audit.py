"""Writing and reading the hash-chained audit log in SQL.

Appends are serialised so two writers never chain from the same tail (which would fork the
chain): on PostgreSQL with a transaction-level advisory lock, held until the writer's
transaction commits; on SQLite the store's write transactions start with `BEGIN IMMEDIATE`,
so only one writer is in a transaction at a time already. Because the lock is taken before
the row is inserted, the seq the database hands out follows chain order too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, or_, select
from sqlalchemy.orm import Session

from assay.registry._orm import AuditRow
from assay.registry._sql_values import json_object, utc
from assay.registry.audit_chain import GENESIS_HASH, entry_hash
from assay.registry.records import AuditEntry

# Any fixed 64-bit number works; it only has to be the same in every process.
_PG_AUDIT_LOCK_KEY = 0x61_73_73_61_79_61_75_64  # "assayaud"

STREAM_BATCH = 1000


def append(
    session: Session, *, actor: str, action: str, subject: str, details: Mapping[str, Any], at: datetime
) -> AuditEntry:
    """Insert one entry chained after the current tail, inside the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_AUDIT_LOCK_KEY})")
    prev_hash = session.scalars(select(AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)).first()
    row = AuditRow(
        at=utc(at, "at"), actor=actor, action=action, subject=subject, details=json_object(details, "details"),
        prev_hash=prev_hash or GENESIS_HASH, hash="",
    )
    session.add(row)
    session.flush()  # assigns seq, which the hash covers
    # Set before this transaction commits: no reader ever sees the row without its hash.
    row.hash = entry_hash(seq=row.seq, at=row.at, actor=row.actor, action=row.action, subject=row.subject,
                          details=row.details, prev_hash=row.prev_hash)
    session.flush()
    return row.to_record()


def stream(engine: Engine, *, batch: int = STREAM_BATCH) -> Iterator[AuditEntry]:
    """Every entry in seq order, fetched `batch` rows at a time (keyset pages, short transactions)."""
    after = 0
    while True:
        with Session(engine) as session:
            rows = list(session.scalars(select(AuditRow).where(AuditRow.seq > after).order_by(AuditRow.seq)
                                        .limit(batch)))
            page = [row.to_record() for row in rows]
        yield from page
        if len(page) < batch:
            return
        after = page[-1].seq


def model_filter(name: str) -> ColumnElement[bool]:
    """Entries about a model: the name itself (deployments, labels), its versions and its aliases."""
    return or_(
        AuditRow.subject == name,
        AuditRow.subject.startswith(f"{name}:", autoescape=True),
        AuditRow.subject.startswith(f"{name}@", autoescape=True),
    )


__all__ = ["STREAM_BATCH", "append", "model_filter", "stream"]
