"""Running the packaged Alembic migrations on a connection: no alembic.ini needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import String, column, inspect, select, table
from sqlalchemy.engine import Connection

from assay.registry._orm import VERSION_TABLE

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Any fixed 64-bit number works; it only has to be the same in every process.
_PG_MIGRATE_LOCK_KEY = 0x61_73_73_61_79_6D_69_67  # "assaymig"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of assay."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def upgrade_to_head(connection: Connection) -> None:
    """Upgrade the schema inside the connection's current transaction.

    On PostgreSQL a transaction-level advisory lock is taken first, so processes that
    migrate at the same time run one after another; the later ones find the schema at
    head and do nothing. On SQLite the caller's `BEGIN IMMEDIATE` serialises them.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATE_LOCK_KEY})")
    command.upgrade(alembic_config(connection), "head")


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    version_table = table(VERSION_TABLE, column("version_num", String))
    return connection.execute(select(version_table.c.version_num)).scalar()
