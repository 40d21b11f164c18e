"""Building the SQLAlchemy engine for the metadata store from a database URL.

SQLite gets WAL, a 30 s busy timeout, foreign keys, and write transactions that start
with `BEGIN IMMEDIATE` (so concurrent writer processes queue for the lock instead of
failing mid-transaction). PostgreSQL URLs are normalised to the psycopg 3 driver.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import ConnectionPoolEntry

from assay.errors import StoreError

SQLITE_BUSY_TIMEOUT_S = 30
PG_CONNECT_TIMEOUT_S = 10

# Execution option read by the SQLite `begin` hook: "DEFERRED" for read-only work, so
# readers never queue behind a writer (WAL lets them read a consistent snapshot).
SQLITE_BEGIN_OPTION = "assay_sqlite_begin"

_SECRET_WORDS = ("password", "secret", "token")
_URL_HINT = "check ASSAY_DB_URL, e.g. sqlite:///.assay/assay.db or postgresql://user@host/db"


def parse_url(url: str) -> URL:
    """Parse a database URL, mapping bare PostgreSQL schemes to psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError("the metadata database URL cannot be parsed", hint=_URL_HINT) from exc
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def redact(url: URL) -> str:
    """The URL as text with any password (also in query options) replaced by `***`."""
    secret_keys = [key for key in url.query if any(word in key.lower() for word in _SECRET_WORDS)]
    if secret_keys:
        url = url.update_query_dict(dict.fromkeys(secret_keys, "***"))
    return url.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def build_engine(url: URL, *, echo: bool = False) -> Engine:
    """Create (not connect) an engine configured for the backend in `url`."""
    backend = url.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engine(url, echo=echo)
        if backend == "postgresql":
            return _postgres_engine(url, echo=echo)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"cannot use the metadata database URL {redact(url)}", hint=_URL_HINT) from exc
    raise StoreError(
        f"unsupported metadata database {backend!r} in {redact(url)}",
        hint=f"use SQLite or PostgreSQL; {_URL_HINT}",
    )


def _postgres_engine(url: URL, *, echo: bool) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    return create_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False})

    # The pysqlite recipe from the SQLAlchemy docs: stop the driver from issuing its own
    # BEGIN, then issue ours from the `begin` event.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        deferred = conn.get_execution_options().get(SQLITE_BEGIN_OPTION) == "DEFERRED"
        conn.exec_driver_sql("BEGIN DEFERRED" if deferred else "BEGIN IMMEDIATE")

    return engine
