"""Translating database-driver errors into StoreError: what failed and what to do next.

Messages name the database by its redacted URL and never carry SQL text or parameters;
the original exception stays chained (`raise ... from`) for debugging.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError

from assay.errors import StoreError
from assay.registry._sql_engine import SQLITE_BUSY_TIMEOUT_S

MIGRATE_HINT = "run `assay db migrate`"
REACH_HINT = (
    "check ASSAY_DB_URL: for PostgreSQL, that the server is up and reachable; "
    "for SQLite, that the file's folder exists and is writable"
)

_PG_UNDEFINED_TABLE = "42P01"
_PG_UNDEFINED_COLUMN = "42703"


def store_error(exc: DBAPIError, *, where: str) -> StoreError:
    """The StoreError to raise for a database error on the database at `where` (a redacted URL)."""
    reason = str(exc.orig).lower()
    undefined = getattr(exc.orig, "sqlstate", None) in (_PG_UNDEFINED_TABLE, _PG_UNDEFINED_COLUMN)
    if undefined or "no such table" in reason or "no such column" in reason:
        return StoreError(
            f"the metadata database at {where} is not migrated to this version of assay",
            hint=MIGRATE_HINT,
        )
    if "database is locked" in reason:
        return StoreError(
            f"the metadata database at {where} stayed locked by another writer for {SQLITE_BUSY_TIMEOUT_S} s",
            hint="retry, and look for a stuck assay process holding the database",
        )
    if isinstance(exc, IntegrityError):
        return StoreError(
            f"the metadata database at {where} rejected a change ({type(exc.orig).__name__})",
            hint=f"check that the schema is current ({MIGRATE_HINT})",
        )
    return StoreError(
        f"cannot connect to or use the metadata database at {where} ({type(exc.orig).__name__})", hint=REACH_HINT
    )
