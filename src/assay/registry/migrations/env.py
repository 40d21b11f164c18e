"""Alembic environment for the metadata store.

Run it only through `SqlMetadataStore.migrate()` (or `assay db migrate`), which passes an
open connection in `config.attributes["connection"]`; no alembic.ini or URL is read here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from assay.registry._orm import VERSION_TABLE, Base


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _connection_from_config() -> Connection:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "the assay migration environment needs an open connection in "
            "config.attributes['connection']; run `assay db migrate` or SqlMetadataStore.migrate()"
        )
    return connection


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run `assay db migrate`")
run_migrations(_connection_from_config())
