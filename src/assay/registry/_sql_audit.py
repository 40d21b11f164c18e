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

from sqlalchemy import ColumnElement, Connection, Engine, or_, select
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
    """Insert one entry chained after the current tail, inside the caller's transaction.

    The seq is taken before the insert, so the row goes in complete with its hash in one INSERT:
    the application's database role needs no UPDATE or DELETE right on `audit_log`.
    """
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_AUDIT_LOCK_KEY})")
    tail = session.execute(select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)).first()
    seq = _next_seq_postgres(connection) if postgres else _next_seq_sqlite(connection, tail[0] if tail else 0)
    prev_hash = tail[1] if tail else GENESIS_HASH
    at, details = utc(at, "at"), json_object(details, "details")
    digest = entry_hash(seq=seq, at=at, actor=actor, action=action, subject=subject, details=details,
                        prev_hash=prev_hash)
    row = AuditRow(seq=seq, at=at, actor=actor, action=action, subject=subject, details=details,
                   prev_hash=prev_hash, hash=digest)
    session.add(row)
    session.flush()
    return row.to_record()


def _next_seq_postgres(connection: Connection) -> int:
    # Under the lock, so seq numbers are handed out in chain order.
    return int(connection.exec_driver_sql("SELECT nextval(pg_get_serial_sequence('audit_log', 'seq'))").scalar_one())


def _next_seq_sqlite(connection: Connection, tail_seq: int) -> int:
    # AUTOINCREMENT keeps the highest seq ever used in sqlite_sequence: never reuse one, even
    # after the newest rows were deleted (an explicit seq above it moves it on).
    used = connection.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").scalar()
    return max(int(used or 0), tail_seq) + 1


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
