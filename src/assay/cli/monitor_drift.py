"""`assay monitor drift`: the model's reference profile against current data, with a verdict."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from assay.cli.context import JSON_OPTION, open_project, state
from assay.cli.errors import EXIT_FAILED
from assay.cli.monitoring import monitor_app
from assay.cli.output import print_json, stdout, table

if TYPE_CHECKING:
    from assay.monitoring.model_drift import DriftCheck
    from assay.project.workspace import Project
    from assay.registry.records import ModelVersion


HTML_OPTION = typer.Option(None, "--html", help="Also write a self-contained HTML report here (distributions, drift over time).")


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO time such as 2026-11-27T00:00:00Z", param_hint=option) from exc


@monitor_app.command("drift")
def drift_command(
    ctx: typer.Context,
    model: str = typer.Option(None, "--model", "-m", help="NAME:VERSION, NAME@ALIAS or NAME; default: the spec's model at @production, else its newest version."),
    data: str = typer.Option(None, "--data", help="Current data: a Parquet or CSV file, a folder of them or a glob; any fsspec URL."),
    dataset: str = typer.Option(None, "--dataset", help="Current data: a recorded dataset version (see `assay datasets list`)."),
    scoring_output: str = typer.Option(None, "--scoring-output", help="Current data: what a finished `assay score` job scored (its --output folder), with its scores; the model defaults to the job's."),
    since: str = typer.Option(None, "--since", help="Prediction log: window start, an ISO time (UTC when no offset is given)."),
    until: str = typer.Option(None, "--until", help="Prediction log: window end (exclusive), an ISO time; default: now."),
    window: str = typer.Option(None, "--window", help="Prediction log: window length ending at --until or now (1h, 1d, 7d); default: monitoring.window."),
    reference: str = typer.Option(None, "--reference", help="Compare --data with this file instead of a model's reference profile (no model needed)."),
    html: Path = HTML_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Compare current data with the model's reference profile (its training rows and held-out scores) and say whether it drifted.

    Each feature is judged on an effect size (monitoring.drift: PSI, KS or Wasserstein for numbers; PSI or Jensen-Shannon for categories; unseen categories; the rise in missing values) AND a test that stays significant after Benjamini-Hochberg control of the false-discovery rate across features; the model's scores are judged on PSI. Fewer rows than monitoring.drift.min_rows give "not enough data", never a verdict. Current data is the model's prediction log over the window (the default: monitoring.window ending now), a file (--data), a dataset version (--dataset), or what a batch scoring job scored (--scoring-output). Exit code 0: no drift or not enough data; 1: drift. See docs/monitoring.md.

    Examples:  assay monitor drift   ·   assay monitor drift --window 7d --html drift.html   ·   assay monitor drift -m credit-default:3 --data data/october.parquet --json   ·   assay monitor drift --since 2026-11-01 --until 2026-11-08   ·   assay monitor drift --reference train.parquet --data today.parquet   ·   assay monitor drift --scoring-output scores/2026-11-28
    """
    from assay.monitoring.drift_page import write_drift_html

    chosen = [name for name, value in (("--data", data), ("--dataset", dataset), ("--scoring-output", scoring_output))
              if value]
    log_options = [name for name, value in (("--since", since), ("--until", until), ("--window", window)) if value]
    if len(chosen) > 1 or (chosen and log_options):
        raise typer.BadParameter(f"choose one source of current data, not {' and '.join(chosen + log_options)}")
    if since and window:
        raise typer.BadParameter("give the window as --since (and --until) or as --window (ending at --until or now), "
                                 "not both", param_hint="--window")
    if reference is not None:
        if data is None:
            raise typer.BadParameter("--reference compares two files: pass the current one with --data",
                                     param_hint="--reference")
        if model is not None:
            raise typer.BadParameter("--reference compares two files without a model: drop --model",
                                     param_hint="--model")
        check = _files_check(ctx, reference, data)
    else:
        with open_project(ctx) as project:
            check = _model_check(project, model, data=data, dataset=dataset, scoring_output=scoring_output,
                                 since=_when(since, "--since"), until=_when(until, "--until"), window=window)
    if html is not None:
        write_drift_html(check, html)
    if as_json:
        print_json({**check.to_dict(), "html": None if html is None else str(html)})
    else:
        _print(check, html)
    if check.report.verdict == "drift":
        raise typer.Exit(EXIT_FAILED)


def _files_check(ctx: typer.Context, reference: str, data: str) -> DriftCheck:
    from assay.monitoring.model_drift import check_files_drift
    from assay.monitoring.sources import file_source, read_files
    from assay.spec.loader import SPEC_FILENAME, load_spec
    from assay.spec.monitoring import DriftPolicy

    spec_path = state(ctx).project_dir / SPEC_FILENAME
    policy = load_spec(spec_path).monitoring.drift if spec_path.is_file() else DriftPolicy()
    return check_files_drift(read_files(reference), file_source(data), reference_name=reference, policy=policy)


def _model_check(
    project: Project, model: str | None, *, data: str | None, dataset: str | None, scoring_output: str | None,
    since: datetime | None, until: datetime | None, window: str | None,
) -> DriftCheck:
    from assay.monitoring.model_drift import check_model_drift
    from assay.monitoring.sources import (
        dataset_source,
        file_source,
        log_root,
        log_source,
        window_bounds,
    )
    from assay.spec.monitoring import duration_s

    spec, _ = project.load_spec()
    if scoring_output is not None:
        from assay.monitoring.sources import scoring_output_source

        job = scoring_output_source(scoring_output)
        record = project.resolve_model(model or job.model_ref)
        if record.artifact_sha256 != job.artifact_sha256:
            raise typer.BadParameter(f"the job in {scoring_output} scored with {job.model_ref}, not {record.ref}: its "
                                     "scores compare only with that model's reference; drop --model",
                                     param_hint="--model")
        current = scoring_output_source(scoring_output, record.signature).data
        return check_model_drift(project, record, current, policy=spec.monitoring.drift, seed=spec.seed,
                                 threads=spec.model.threads)
    record = _resolve(project, model, spec.model.name)
    if data is not None:
        current = file_source(data, record.signature)
    elif dataset is not None:
        current = dataset_source(project, dataset, record.signature)
    else:
        try:
            length_s = duration_s(window or spec.monitoring.window)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--window") from exc
        start, end = window_bounds(since=since, until=until, window_s=length_s, now=project.clock.now())
        current = log_source(log_root(project, spec), record.name, since=start, until=end,
                             signature=record.signature, version=record.version)
    return check_model_drift(project, record, current, policy=spec.monitoring.drift, seed=spec.seed,
                             threads=spec.model.threads)


def _resolve(project: Project, model: str | None, default_name: str) -> ModelVersion:
    from assay.registry.records import PRODUCTION_ALIAS

    if model is not None:
        return project.resolve_model(model)
    if project.metadata.get_alias(default_name, PRODUCTION_ALIAS) is not None:
        return project.resolve_model(f"{default_name}@{PRODUCTION_ALIAS}")
    return project.resolve_model(default_name)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _print(check: DriftCheck, html: Path | None) -> None:
    console = stdout()
    report = check.report
    judged = [*report.features, *([report.prediction] if report.prediction is not None else [])]
    judged.sort(key=lambda f: (not f.drifted, f.name))
    styles = {"drift": "bold red", "no drift": "green", "not enough data": "yellow"}
    rows = [
        [f.name, f.kind, f.statistic, _number(f.value), f"{f.threshold:g}", _number(f.p_adjusted),
         Text(f.verdict, style=styles[f.verdict]), "; ".join(f.reasons)]
        for f in judged
    ]
    title = f"drift of {check.model}" if check.model else "drift between two files"
    console.print(table(title, ["feature", "kind", "statistic", "value", "threshold", "p adj", "verdict", "why"], rows))
    console.print(f"reference: {check.reference}", markup=False)
    console.print(f"current:   {check.current} ({report.rows:,} rows)", markup=False)
    for note in check.notes:
        console.print(f"note: {note}", style="dim", markup=False)
    if report.verdict == "drift":
        features = [f for f in report.features if f.drifted]
        what = f"{len(features)} of {len(report.features)} feature(s)" + (
            " and the prediction" if report.prediction is not None and report.prediction.drifted else "")
        summary = Text(f"DRIFT in {what}: {', '.join(report.drifted)}", style="bold red")
    elif report.verdict == "not enough data":
        summary = Text(f"not enough data: {report.rows:,} rows, fewer than min_rows {report.policy.min_rows:,}",
                       style="yellow")
    else:
        summary = Text(f"no drift in {len(report.features)} feature(s)"
                       + (" or the prediction" if report.prediction is not None else ""), style="green")
    console.print(summary)
    if html is not None:
        console.print(f"report: {html}", markup=False)


__all__ = ["drift_command"]
