"""`assay data report`: the HTML report (and its JSON twin) of a recorded dataset version."""

from __future__ import annotations

from pathlib import Path

import typer

from assay.cli.context import JSON_OPTION, open_project
from assay.cli.output import print_json, stdout
from assay.project.settings import STATE_DIR

DATASET_OPTION = typer.Option(
    None,
    "--dataset",
    help="Dataset version id (ds-...); default: the newest version of the spec's dataset.",
)
OUT_OPTION = typer.Option(
    None,
    "--out",
    help="Folder for report.html and report.json; default: .assay/reports/<dataset id>/.",
)


def report_command(
    ctx: typer.Context,
    dataset: str | None = DATASET_OPTION,
    out: Path | None = OUT_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Write a self-contained HTML report of a dataset version (what needs action, checks, drift,
    per-column plots, leakage findings) and its JSON twin; print their paths."""
    # Imported here: the report pulls in matplotlib, which no other command should pay for.
    from assay.project.report import build_report, write_report

    with open_project(ctx) as project:
        report = build_report(project, dataset)
        folder = out if out is not None else project.root / STATE_DIR / "reports" / report.dataset.id
        html_path, json_path = write_report(report, folder)
    if as_json:
        print_json(
            {
                "html": str(html_path),
                "json": str(json_path),
                "actions": [a.to_dict() for a in report.actions],
            }
        )
        return
    console = stdout()
    console.print(str(html_path), markup=False)
    console.print(str(json_path), markup=False)


__all__ = ["report_command"]
