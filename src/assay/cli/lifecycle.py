"""Lifecycle verbs: demo, init, validate, ingest, train, run.

The training stack is imported inside the commands that use it, so that `assay --help` and the
record queries start in well under a second instead of paying for scikit-learn.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from assay.cli.context import JSON_OPTION, open_project, state
from assay.cli.output import (
    costs_table,
    RichReporter,
    fmt_metric,
    gates_table,
    key_values,
    print_json,
    scan_progress,
    stderr,
    stdout,
    table,
)
from assay.project.settings import STATE_DIR, Settings

if TYPE_CHECKING:
    from assay.data.schema import ValidationReport
    from assay.project.pipeline import TrainResult
    from assay.project.validation import SourceValidation

DEMO_ROWS = 60_000  # the demo's default size (assay.project.demo.DEMO_ROWS)


def _train_summary(result: TrainResult, project_dir: Path) -> dict[str, Any]:
    metrics = result.run.metrics
    return {
        "project_dir": str(project_dir),
        "dataset_version": result.dataset.id,
        "dataset_rows": result.dataset.row_count,
        "split_sizes": dict(result.split_sizes),
        "run_id": result.run.id,
        "model": result.model.ref,
        "model_status": result.model.status.value,
        "primary_metric": metrics.get("primary"),
        "metrics": {"validation": metrics.get("validation", {}), "test": metrics.get("test", {})},
        "intervals": metrics.get("intervals", {}),
        "decision": metrics.get("decision"),
        "comparisons": metrics.get("comparisons", {}),
        "gates": metrics.get("gates", []),
        "warnings": list(result.warnings),
        "leakage": dict(result.run.params.get("leakage", {})),
        "evidence": {
            "metadata": str(project_dir / STATE_DIR / "assay.db"),
            "artifacts": str(project_dir / STATE_DIR / "artifacts"),
            "model_artifact_sha256": result.model.artifact_sha256,
            "spec_sha256": result.run.spec_sha256,
            "split_sha256": result.run.artifacts.get("split"),
        },
        "timings_s": {k: round(v, 3) for k, v in result.timings_s.items()},
    }


def _render_train(summary: dict[str, Any], *, title: str) -> None:
    out = stdout()
    sizes = summary["split_sizes"]
    out.print(f"[bold]{title}[/]")
    out.print(
        key_values(
            {
                "dataset version": f"{summary['dataset_version']} ({summary['dataset_rows']} rows)",
                "split": f"train {sizes['train']} · validation {sizes['validation']} · test {sizes['test']}",
                "run": summary["run_id"],
                "model": f"{summary['model']} ({summary['model_status']})",
            }
        )
    )
    test, validation = summary["metrics"]["test"], summary["metrics"]["validation"]
    intervals = summary.get("intervals", {})
    names = list(test)
    level = next(iter(intervals.values()))["level"] if intervals else None

    def interval(name: str) -> str:
        ci = intervals.get(name)
        return "" if ci is None or ci["low"] is None else f"[{ci['low']:.4f}, {ci['high']:.4f}]"

    out.print(
        table(
            None,
            ["metric", "validation", "test", *([f"test {level:.0%} interval"] if intervals else [])],
            [
                [("* " if n == summary["primary_metric"] else "") + n, fmt_metric(validation.get(n)), fmt_metric(test.get(n)),
                 *([interval(n)] if intervals else [])]
                for n in names
            ],
        )
    )
    decision = summary.get("decision")
    if decision:
        out.print(
            f"decision: act when the score is at least {decision['threshold']:.4g} "
            f"({decision['rule'].replace('_', ' ')}, chosen on validation)"
            + (f"; {decision['note']}" if decision.get("note") else "")
        )
    for alias, c in summary.get("comparisons", {}).items():
        if c.get("difference") is not None and c.get("low") is not None:
            out.print(
                f"against @{alias}: {c['metric']} {c['challenger']:.4f} vs {c['champion']:.4f}, difference "
                f"{c['difference']:+.4f} ({c['level']:.0%} interval [{c['low']:+.4f}, {c['high']:+.4f}]): "
                f"{c['verdict'].replace('_', ' ')}"
            )
    if summary.get("gates"):
        out.print(gates_table(summary["gates"], title="evaluation gates"))
    evidence = summary["evidence"]
    out.print(f"evidence: metadata {evidence['metadata']} · artifacts {evidence['artifacts']}")
    out.print(
        f"next: `assay lineage {summary['model']}` · `assay reproduce {summary['model']}` · "
        + ("`assay serve`" if summary.get("production") == summary["model"]
           else f"`assay deploy {summary['model']} --canary 10` (or --shadow, --promote)")
    )


def demo(
    ctx: typer.Context,
    directory: Path = typer.Option(Path("assay-demo"), "--dir", help="Folder to create the demo project in."),
    rows: int = typer.Option(DEMO_ROWS, "--rows", min=1000, help="Rows of synthetic loan applications."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a credit-default project from examples/credit and run it end to end.

    Generates 60k loan applications (deterministic), then ingest → validate → split → train →
    evaluate → register; when the model passed its gates it walks the approval path (trained by demo-trainer, approved by demo-reviewer: four-eyes) and promotes it to production (so `assay serve` works at once), and prints where the evidence is.
    """
    from assay.project.demo import DEMO_TRAINER, run_demo

    reporter = RichReporter(stderr())
    result = run_demo(directory, settings=Settings(), reporter=reporter, rows=rows)
    summary = _train_summary(result.result, result.project_dir)
    summary["data_path"] = str(result.data_path)
    summary["production"] = result.production
    summary["approval_steps"] = list(result.approval_steps)
    if as_json:
        print_json(summary)
    else:
        _render_train(summary, title=f"demo project ready in {result.project_dir}")
        if result.approval_steps:
            stdout().print("approvals (four-eyes: production is protected; two demo identities):")
            for step in result.approval_steps:
                stdout().print(f"  {step}", highlight=False, markup=False)
            stdout().print(f"  then {DEMO_TRAINER}: promote {result.production} -> production")
        stdout().print(f"try: cd {directory} && assay models list")
        if result.production:
            stdout().print(f"serve it: cd {directory} && assay keys create --role predict --name me && assay serve")


def init(
    ctx: typer.Context,
    data: Path = typer.Option(..., "--data", help="Your CSV or Parquet file."),
    target: str = typer.Option(..., "--target", help="Column to predict."),
    time: str | None = typer.Option(None, "--time", help="Column with each row's time (enables time splits)."),
    entity: str | None = typer.Option(None, "--entity", help="Column naming who a row is about (customer, account)."),
    row_id: str | None = typer.Option(None, "--id", help="Unique row id column (guessed if omitted)."),
    name: str | None = typer.Option(None, "--name", help="Project name (default: from the file name)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing assay.yaml."),
) -> None:
    """Write a commented assay.yaml for your own data, with the schema inferred from it.

    Example: assay init --data data/loans.csv --target defaulted --time applied_at --entity customer_id
    """
    from assay.project.init_spec import render_init_spec, write_init_spec

    project_dir = state(ctx).project_dir
    text = render_init_spec(
        data, target=target, project_dir=project_dir, time=time, entity=entity, row_id=row_id, project=name
    )
    path = write_init_spec(text, project_dir, overwrite=force)
    stdout().print(f"wrote {path}\nreview the lines marked REVIEW, then: assay spec check && assay run")


def _render_report(report: ValidationReport, source: str, *, show_all: bool) -> None:
    from assay.data.checks import rows_phrase

    out = stdout()
    shown = report.results if show_all else [r for r in report.results if not r.passed]
    rows = [
        [
            "PASS" if r.passed else ("WARN" if r.severity == "warning" else "FAIL"),
            r.check,
            r.column or "(batch)",
            r.message + (f" e.g. {', '.join(r.examples)}" if r.examples else "") + (f"; {rows_phrase(r)}" if r.rows else ""),
        ]
        for r in shown
    ]
    if rows:
        out.print(table(f"checks on {source} ({report.row_count} rows)", ["verdict", "check", "column", "detail"], rows))
    passed = sum(r.passed for r in report.results)
    if not show_all:
        out.print(f"{passed} of {len(report.results)} checks passed on {source} ({report.row_count} rows); --all lists every check")
    verdict = "[green]passed[/]" if report.passed else f"[red]failed[/] ({len(report.errors)} failing check(s))"
    out.print(f"validation {verdict}")


def validate_command(
    ctx: typer.Context,
    path: Path | None = typer.Argument(
        None, help="A new batch (CSV or Parquet) to check against the project's schema; default: the spec's source(s)."
    ),
    show_all: bool = typer.Option(False, "--all", help="List every check, not only the failing ones."),
    no_drift: bool = typer.Option(False, "--no-drift", help="Skip the comparison with the reference profile."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check data against the project's schema and reference profile, recording nothing.

    Streams the file batch by batch (memory stays at about one batch, so files larger than memory
    validate), runs every schema check, and compares the batch's distribution with the newest
    ingested version's profile (PSI, KS, unseen categories, null rates). The schema is the one
    declared in assay.yaml, else the one recorded by the last `assay ingest`; with neither, the
    whole source is read and a schema inferred, as `assay ingest` would.

    Examples: assay validate | assay validate data/2026-11-batch.parquet --json

    Exits 4 when a check fails (or drift fails with data.drift.on_fail: fail).
    """
    from assay.project.validation import (
        SourceValidation,
        schema_for_validation,
        validate_sources,
    )

    extra: dict[str, Any] = {}
    with open_project(ctx) as project:
        spec = project.load_spec()[0]
        if path is None and schema_for_validation(project, spec) is None:
            from assay.project.ingestion import validate

            prepared = validate(project, spec=spec)  # nothing to hold it to yet: infer, as ingest does
            results = [SourceValidation(prepared.source.uri, "", prepared.report, (), None, 1, drift_fails=False)]
            extra = {"dataset_version": prepared.version_id, "schema": "inferred"}
        else:
            with scan_progress(enabled=not as_json) as progress:
                results = validate_sources(project, path=path, spec=spec, drift=not no_drift, progress=progress)
    passed = all(r.passed for r in results)
    if as_json:
        print_json({"passed": passed, **extra, "sources": [r.to_dict() for r in results]})
    else:
        for result in results:
            label = f"{result.source} ({result.split})" if result.split else result.source
            _render_report(result.report, label, show_all=show_all)
            _render_drift(result, show_all=show_all)
    if not passed:
        raise typer.Exit(4)


def _render_drift(result: SourceValidation, *, show_all: bool) -> None:
    out = stdout()
    if result.reference is None:
        return
    shown = result.drift if show_all else [r for r in result.drift if not r.passed]
    rows = [
        ["PASS" if r.passed else ("WARN" if r.severity == "warning" else "FAIL"), r.check, r.column, r.message]
        for r in shown
    ]
    if rows:
        out.print(table(f"drift against dataset version {result.reference}", ["verdict", "check", "column", "detail"], rows))
    failing = sum(not r.passed for r in result.drift)
    policy = "" if result.drift_fails else " (data.drift.on_fail: warn)"
    out.print(f"drift: {len(result.drift) - failing} of {len(result.drift)} checks passed against {result.reference}{policy}")


def ingest_command(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Validate the data source and record it as a dataset version (with a Parquet snapshot).

    Identical data gives the same version; nothing is recorded twice.
    """
    from assay.project.pipeline import ingest

    with open_project(ctx) as project:
        result = ingest(project, reporter=RichReporter(stderr(), quiet=as_json))
    dataset = result.dataset
    if as_json:
        print_json({"dataset_version": dataset.id, "created": result.created, "rows": dataset.row_count, "columns": dataset.column_count, "content_hash": dataset.content_hash, "snapshot_sha256": dataset.snapshot_sha256, "profile_sha256": dataset.profile_sha256, "checks": dict(dataset.checks)})
        return
    what = "recorded new" if result.created else "unchanged, reused"
    stdout().print(f"{what} dataset version {dataset.id}: {dataset.row_count} rows × {dataset.column_count} columns from {dataset.source_uri}")


def train_command(
    ctx: typer.Context,
    dataset: str | None = typer.Option(None, "--dataset", help="Train on this recorded dataset version instead of re-reading the source."),
    description: str = typer.Option("", "--description", help="Note stored with the model version."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Split, train, evaluate and register a model, recording the run for reproduction.

    Evaluation follows `evaluation:` in assay.yaml: metrics with bootstrap intervals, the decision
    threshold (chosen on validation), calibration, fairness, slices, the comparison with
    production, and the gates. The model is registered as a candidate when every gate passes;
    otherwise it is recorded as rejected, the gate table is printed and the exit code is 11.
    Its model card is stored with the run (`assay models card`).
    """
    _train(ctx, dataset=dataset, description=description, as_json=as_json, title="trained")


def run_command(
    ctx: typer.Context,
    description: str = typer.Option("", "--description", help="Note stored with the model version."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The whole pipeline: ingest → validate → split → train → evaluate → register.

    Exit codes: 4 when the data fails its checks, 10 when leakage blocks training, 11 when the
    model fails an evaluation gate (it is then recorded as rejected).
    """
    _train(ctx, dataset=None, description=description, as_json=as_json, title="run complete")


def _train(ctx: typer.Context, *, dataset: str | None, description: str, as_json: bool, title: str) -> None:
    from assay.project.pipeline import train_project

    with open_project(ctx) as project:
        result = train_project(project, dataset_id=dataset, reporter=RichReporter(stderr()), description=description)
        summary = _train_summary(result, project.root)
    if as_json:
        print_json(summary)
    else:
        for warning in summary["warnings"]:
            stderr().print(f"[yellow]warning:[/] {warning}")
        _render_train(summary, title=title)


def evaluate_command(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME:VERSION, NAME@ALIAS, or NAME (the newest version)."),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Dataset version to evaluate on (default: the newest ingested version)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Evaluate a registered model again on a dataset version of choice, recording nothing.

    On the dataset it was trained on, the model's own test rows are scored (never its training
    rows); on any other version, every row (a newer labelled month, say). Metrics with bootstrap
    intervals, the recorded decision threshold, fairness, slices and the spec's current gates, as
    `assay train` computes them.

    Examples: assay evaluate credit-default@production --dataset ds-… | assay evaluate credit-default:3

    Exits 1 when a gate fails.
    """
    from assay.project.reevaluation import evaluate_model

    with open_project(ctx) as project:
        result = evaluate_model(project, ref, dataset_id=dataset)
    assessment = result.assessment
    if as_json:
        print_json(result.to_dict())
    else:
        out = stdout()
        out.print(f"[bold]{result.model.ref}[/] on {result.rows} ({result.row_count} rows)")
        test = assessment.metrics["test"]
        rows = []
        for name, value in test.items():
            ci = assessment.intervals.get(name)
            interval = f"[{ci.low:.4f}, {ci.high:.4f}]" if ci is not None and ci.low is not None else ""
            rows.append([name, fmt_metric(value), interval])
        level = next(iter(assessment.intervals.values())).level if assessment.intervals else 0.95
        out.print(table(None, ["metric", "value", f"{level:.0%} interval"], rows))
        if assessment.gates:
            out.print(gates_table([g.to_dict() for g in assessment.gates], title="evaluation gates"))
        out.print(costs_table(result.costs))
    if not assessment.passed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("init")(init)
    app.command("validate")(validate_command)
    app.command("ingest")(ingest_command)
    app.command("train")(train_command)
    app.command("run")(run_command)
    app.command("evaluate")(evaluate_command)


__all__ = ["register"]
