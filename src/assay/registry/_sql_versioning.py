"""Handing out model version numbers safely under concurrent writers.

Each model name has a counter row in `registered_models`. `next_version` creates it if
absent (INSERT ... ON CONFLICT DO NOTHING) and increments it with an UPDATE, which takes
the row lock until the caller's transaction ends. On PostgreSQL under READ COMMITTED a
second writer blocks on that lock, then re-reads the committed counter and increments
from there, so numbers are never repeated, skipped or lost (a rolled-back transaction
also rolls back its increment). On SQLite every write transaction already starts with
BEGIN IMMEDIATE, so writers are serialised by the database lock. No retries are needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from assay.registry._orm import RegisteredModelRow


def insert_if_absent(session: Session, table: Table, values: Mapping[str, Any], *, key: str) -> bool:
    """INSERT ... ON CONFLICT (key) DO NOTHING; True if this call inserted the row."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(**values).on_conflict_do_nothing(index_elements=[key])
    return session.execute(statement.returning(table.c[key])).first() is not None


def next_version(session: Session, name: str, at: datetime) -> int:
    """Take the next version number for `name`; the counter stays locked until commit."""
    counters = cast(Table, RegisteredModelRow.__table__)
    insert_if_absent(session, counters, {"name": name, "last_version": 0, "created_at": at}, key="name")
    session.execute(update(counters).where(counters.c.name == name).values(last_version=counters.c.last_version + 1))
    return int(session.execute(select(counters.c.last_version).where(counters.c.name == name)).scalar_one())
