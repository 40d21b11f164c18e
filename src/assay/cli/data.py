"""`assay data`: look at a data file before it becomes part of a project."""

from __future__ import annotations

from pathlib import Path

import typer

from assay.cli.context import JSON_OPTION
from assay.cli.output import print_json
from assay.cli.report import report_command

data_app = typer.Typer(help="Look at data: infer a file's schema, report on a dataset version.", no_args_is_help=True)


@data_app.callback()
def data_group() -> None:
    """Look at data: infer a file's schema, report on a dataset version."""


@data_app.command("infer")
def infer_command(
    data: Path = typer.Option(..., "--data", help="A CSV or Parquet file."),
    unique: str | None = typer.Option(None, "--unique", help="Columns to mark unique (ids), comma-separated."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Infer a schema from a file and print it as YAML to paste under `data.schema` in assay.yaml
    (or, with --json, as JSON). Review it: it describes this file, and every later ingest is held
    to it."""
    from assay.project.init_spec import infer_source_schema, schema_yaml_lines

    marked = [name.strip() for name in (unique or "").split(",") if name.strip()]
    schema = infer_source_schema(data, unique=marked)
    if as_json:
        print_json(schema.model_dump(mode="json", exclude_none=True))
    else:
        typer.echo("\n".join(["schema:", *schema_yaml_lines(schema, indent="  ")]))


data_app.command("report")(report_command)

__all__ = ["data_app"]
