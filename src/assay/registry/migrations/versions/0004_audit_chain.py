"""Audit log hash chain: every entry gets `prev_hash` and `hash`; existing entries are chained.

The entries already in the log are chained in seq order, as they are at upgrade time: the
chain proves they were not changed after the upgrade, not before it. When there were any,
one `audit.chain_started` entry records the last of them, so `assay audit verify` can say
from which seq on the chain was written as the entries were.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 09:45:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from assay.registry._orm import UTCDateTime
from assay.registry.audit_chain import CHAIN_STARTED_ACTION, GENESIS_HASH, entry_hash

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000

# The table as this revision knows it (not the ORM class, which later revisions may change).
_audit_log = sa.table(
    "audit_log",
    sa.column("seq", sa.Integer()),
    sa.column("at", UTCDateTime()),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("subject", sa.String()),
    sa.column("details", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
# Batch mode recreates the table on SQLite to change nullability; keep seq never reused.
_SQLITE_TABLE = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("audit_log", table_kwargs=_SQLITE_TABLE) as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
    connection = op.get_bind()
    prev_hash, last_seq, count = _chain_existing(connection)
    if count:
        at = datetime.now(UTC)
        details = {"existing_entries": count, "last_existing_seq": last_seq}
        values = {"at": at, "actor": "assay-migration", "action": CHAIN_STARTED_ACTION, "subject": "audit_log",
                  "details": details}
        seq = connection.execute(
            _audit_log.insert().values(**values, prev_hash=prev_hash, hash="").returning(_audit_log.c.seq)
        ).scalar_one()
        connection.execute(_audit_log.update().where(_audit_log.c.seq == seq).values(
            hash=entry_hash(seq=seq, **values, prev_hash=prev_hash)))
    with op.batch_alter_table("audit_log", table_kwargs=_SQLITE_TABLE) as batch:
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)


def _chain_existing(connection: sa.Connection) -> tuple[str, int | None, int]:
    """Chain the existing rows in seq order, a page at a time; return the tail hash, its seq, the count."""
    prev_hash, after, count = GENESIS_HASH, 0, 0
    while True:
        rows = connection.execute(
            sa.select(_audit_log).where(_audit_log.c.seq > after).order_by(_audit_log.c.seq).limit(_BATCH)
        ).mappings().all()
        for row in rows:
            digest = entry_hash(seq=row["seq"], at=row["at"], actor=row["actor"], action=row["action"],
                                subject=row["subject"], details=row["details"], prev_hash=prev_hash)
            connection.execute(_audit_log.update().where(_audit_log.c.seq == row["seq"])
                               .values(prev_hash=prev_hash, hash=digest))
            prev_hash = digest
        count += len(rows)
        if rows:
            after = rows[-1]["seq"]
        if len(rows) < _BATCH:
            return prev_hash, (after or None), count


def downgrade() -> None:
    with op.batch_alter_table("audit_log", table_kwargs=_SQLITE_TABLE) as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
