"""`assay features`: the project's versioned feature definitions."""

from __future__ import annotations

import typer

from assay.cli.context import JSON_OPTION, state
from assay.cli.output import print_json, stdout, table
from assay.spec.loader import load_spec

features_app = typer.Typer(help="The project's versioned feature definitions.", no_args_is_help=True)


@features_app.command("list")
def features_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List the features assay.yaml defines (`features:` and `features_from`), with their versions.

    Exits 3 when the spec or a definition is invalid.
    """
    from assay.project.feature_set import feature_definitions

    project_dir = state(ctx).project_dir.resolve()
    definitions = feature_definitions(load_spec(project_dir), project_dir)
    rows = [
        {
            "name": d.name,
            "version": d.version,
            "source": d.source,
            "entity": d.entity,
            "timestamp": d.timestamp,
            "agg": d.expression.agg,
            "column": d.expression.column,
            "window_days": d.expression.window_days,
            "description": d.description,
        }
        for d in definitions
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        stdout().print("no features defined: add a `features:` section to assay.yaml (see docs/features.md)")
        return
    stdout().print(
        table(
            None,
            ["feature", "version", "source", "entity", "aggregation", "window"],
            [
                [r["name"], r["version"], r["source"], r["entity"], f"{r['agg']}({r['column'] or ''})",
                 f"{r['window_days']} days" if r["window_days"] else "all earlier events"]
                for r in rows
            ],
        )
    )


__all__ = ["features_app"]
