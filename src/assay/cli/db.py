"""`assay db`: the metadata store's schema, for teams that migrate explicitly (PostgreSQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from assay.cli.context import JSON_OPTION, state
from assay.cli.output import print_json, stdout
from assay.project.settings import STATE_DIR, Settings

if TYPE_CHECKING:
    from assay.registry.sql import SqlMetadataStore

db_app = typer.Typer(
    help="The metadata store's schema. Assay migrates automatically when it opens a project; "
    "these commands let a deploy pipeline do it explicitly.",
    no_args_is_help=True,
)


def _store(ctx: typer.Context) -> SqlMetadataStore:
    settings = Settings()
    url = settings.db_url
    if url is None:
        folder = state(ctx).project_dir.resolve() / STATE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{folder / 'assay.db'}"
    from assay.registry.sql import SqlMetadataStore

    return SqlMetadataStore.from_url(url)


@db_app.command("migrate")
def db_migrate(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Create or upgrade the schema to the latest revision (safe to run from several processes)."""
    store = _store(ctx)
    try:
        before = store.is_migrated()
        store.migrate()
    finally:
        store.close()
    if as_json:
        print_json({"url": store.url, "was_current": before, "current": True})
    else:
        stdout().print(f"{store.url}: {'already current' if before else 'migrated to the latest revision'}")


@db_app.command("status")
def db_status(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Say whether the schema is at the latest revision. Exits 7 when it is not."""
    store = _store(ctx)
    try:
        current = store.is_migrated()
    finally:
        store.close()
    if as_json:
        print_json({"url": store.url, "current": current})
    else:
        stdout().print(f"{store.url}: {'current' if current else 'needs `assay db migrate`'}")
    if not current:
        raise typer.Exit(7)


__all__ = ["db_app"]
