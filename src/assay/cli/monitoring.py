"""`assay monitor ...` and `assay labels ...`: the command groups. Each concern's commands live in
their own module (`monitor_drift`, `monitor_quality`, `monitor_slo`) and register on these groups
when `assay.cli.main` imports them."""

from __future__ import annotations

import typer

monitor_app = typer.Typer(
    help="Watch a model in production: drift, quality against labels, SLOs and alerts, runbooks.",
    no_args_is_help=True,
)
labels_app = typer.Typer(
    help="Delayed outcomes (ground truth) joined to logged predictions, for `assay monitor quality`.",
    no_args_is_help=True,
)
