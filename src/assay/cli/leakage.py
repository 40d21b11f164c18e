"""`assay leakage check`: look for leakage in the project's split, or between ad hoc train/test
files with no project at all.

polars, numpy and the detectors are imported inside the command, like the training stack in
lifecycle.py, so that `assay --help` and every other command do not pay for them at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from assay.cli.context import JSON_OPTION, open_project
from assay.cli.errors import EXIT_FAILED
from assay.cli.output import print_json, stdout, table

if TYPE_CHECKING:
    import polars as pl

    from assay.leakage.detect import Finding, LeakageReport

leakage_app = typer.Typer(help="Find leakage between training and test data.", no_args_is_help=True)



@leakage_app.callback()
def leakage_group() -> None:
    """Find leakage between training and test data."""


_STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}


def _read(path: Path) -> pl.DataFrame:
    from assay.data.source import SourceRef, read_source

    return read_source(SourceRef.resolve(str(path), base_dir=Path.cwd()))


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(name.strip() for name in (value or "").split(",") if name.strip())


def _feature_times(values: list[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        feature, sep, column = value.partition("=")
        if not sep or not feature.strip() or not column.strip():
            raise typer.BadParameter(f"{value!r} is not FEATURE=COLUMN", param_hint="--feature-time")
        pairs[feature.strip()] = column.strip()
    return pairs


def _examples(finding: Finding) -> str:
    parts = []
    if finding.test_row_count:
        more = " …" if finding.test_row_count > len(finding.test_rows) else ""
        parts.append(f"{finding.test_row_count} test rows: {', '.join(map(str, finding.test_rows[:5]))}{more}")
    if finding.entity_count:
        more = " …" if finding.entity_count > len(finding.entities) else ""
        parts.append(f"{finding.entity_count} entities: {', '.join(finding.entities[:5])}{more}")
    return "; ".join(parts) or "-"


def _summary(report: LeakageReport) -> str:
    counts = report.counts()
    rows = f"{report.train_rows} train" + (f", {report.validation_rows} validation" if report.validation_rows is not None else "") + f", {report.test_rows} test rows"
    if not report.findings:
        return f"no leakage found ({rows})"
    verdict = "critical leakage found" if counts["critical"] else "no critical leakage"
    return f"{verdict}: {counts['critical']} critical, {counts['warning']} warning, {counts['info']} info ({rows})"


def _render(report: LeakageReport) -> None:
    out = stdout()
    if report.findings:
        rows = [
            [Text(f.severity, style=_STYLE[f.severity]), f.kind, ", ".join(f.columns[:6]) + (" …" if len(f.columns) > 6 else ""), f.message, _examples(f), f.fix]
            for f in report.findings
        ]
        out.print(table(None, ["severity", "kind", "columns", "finding", "examples", "fix"], rows))
    out.print(_summary(report), markup=False)


@leakage_app.command("check")
def check_command(
    ctx: typer.Context,
    train: Path | None = typer.Option(None, "--train", help="Training rows (CSV or Parquet). Without --train/--test: the project's split."),
    test: Path | None = typer.Option(None, "--test", help="Test rows (CSV or Parquet)."),
    validation: Path | None = typer.Option(None, "--validation", help="Validation rows (CSV or Parquet), if any."),
    dataset: str | None = typer.Option(None, "--dataset", help="Project mode: this dataset version (default: the newest of the spec's dataset)."),
    data: Path | None = typer.Option(None, "--data", help="One file to split here (with --split-column, or --strategy and fractions)."),
    split_column: str | None = typer.Option(None, "--split-column", help="With --data: column saying train/validation/test for each row."),
    strategy: str = typer.Option("random", "--strategy", help="With --data and no --split-column: random, stratified, time (needs --time) or group (needs --entity)."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", help="With --strategy: share of rows for test."),
    validation_fraction: float = typer.Option(0.0, "--validation-fraction", help="With --strategy: share of rows for validation."),
    gap_days: int = typer.Option(0, "--gap-days", help="With --strategy time: days left out before each cut-off."),
    target: str | None = typer.Option(None, "--target", help="The column the model predicts (files mode; the spec says it in project mode)."),
    time: str | None = typer.Option(None, "--time", help="When each row happened."),
    prediction_time: str | None = typer.Option(None, "--prediction-time", help="When each prediction is made (default: --time)."),
    entity: str | None = typer.Option(None, "--entity", help="Who a row is about (customer, account)."),
    entity_may_cross: bool = typer.Option(False, "--entity-may-cross", help="The model will score entities it was trained on."),
    id_columns: str | None = typer.Option(None, "--id-columns", help="Identifier columns, comma-separated."),
    feature_time: list[str] = typer.Option([], "--feature-time", help="FEATURE=COLUMN: when FEATURE's value was observed (repeatable)."),
    features: str | None = typer.Option(None, "--features", help="The intended features, comma-separated (default: every column without a role)."),
    seed: int = typer.Option(0, "--seed", help="Seed for any sampling the detectors do."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check for leakage: duplicates, shared entities, time order, target proxies, identifiers and
    preprocessing fitted before the split. Exits 1 when any finding is critical (and, in a project,
    not waived in the spec).

    In a project folder with no --train/--test, checks the split the spec makes of the newest
    dataset version (exactly what `assay train` checks before fitting). With --train and --test,
    checks those files, with the declarations given as flags.
    """
    if data is not None and (train is not None or test is not None):
        raise typer.BadParameter("give either --data or --train/--test, not both", param_hint="--data")
    if data is None and train is None and test is None:
        _check_project(ctx, dataset=dataset, as_json=as_json)
        return
    if target is None or (data is None and (train is None or test is None)):
        raise typer.BadParameter(
            "files mode needs --target with either --train and --test, or --data", param_hint="--train/--test/--target"
        )
    from assay.leakage.detect import Declarations, check_leakage

    declarations = Declarations(
        target=target,
        time=time,
        prediction_time=prediction_time,
        entity=entity,
        entity_may_cross=entity_may_cross,
        id_columns=_names(id_columns),
        feature_time=_feature_times(feature_time),
        features=_names(features) or None,
    )
    if data is not None:
        parts = _split_one_file(
            _read(data), target=target, time=time, entity=entity, split_column=split_column, strategy=strategy,
            test_fraction=test_fraction, validation_fraction=validation_fraction, gap_days=gap_days, seed=seed,
        )
    else:
        assert train is not None and test is not None  # checked above
        parts = {"train": _read(train), "test": _read(test), "validation": _read(validation) if validation is not None else None}
    validation_part = parts["validation"]
    report = check_leakage(
        parts["train"], parts["test"], declarations,
        validation=validation_part if validation_part is not None and validation_part.height else None, seed=seed,
    )
    if as_json:
        print_json(report.to_dict())
    else:
        _render(report)
    if report.critical:
        raise typer.Exit(EXIT_FAILED)


def _split_one_file(
    frame: pl.DataFrame,
    *,
    target: str,
    time: str | None,
    entity: str | None,
    split_column: str | None,
    strategy: str,
    test_fraction: float,
    validation_fraction: float,
    gap_days: int,
    seed: int,
) -> dict[str, pl.DataFrame | None]:
    """Split one file either by a column naming each row's split, or by a strategy, as a project would."""
    import polars as pl
    from pydantic import ValidationError

    from assay.errors import LeakageError
    from assay.leakage.split import split_dataset
    from assay.spec.model import DataSpec, SplitSpec

    if split_column is not None:
        if split_column not in frame.columns:
            raise LeakageError(f"--split-column {split_column!r} is not a column of --data", hint=f"columns are: {', '.join(frame.columns)}")
        labels = frame.get_column(split_column).cast(pl.String)
        unknown = sorted(set(labels.drop_nulls().to_list()) - {"train", "validation", "test"})
        if unknown or labels.null_count():
            raise LeakageError(
                f"--split-column {split_column!r} must hold train, validation or test on every row; found {unknown or 'missing values'}",
                hint="fix the column, or split with --strategy instead",
            )
        rest = frame.drop(split_column)
        return {name: rest.filter(labels == name) for name in ("train", "validation", "test")}
    try:
        data_spec = DataSpec(source="-", target=target, time=time, entity=entity)
        split_spec = SplitSpec(
            strategy=strategy, test_fraction=test_fraction, validation_fraction=validation_fraction, gap_days=gap_days  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        raise typer.BadParameter(str(exc.errors()[0]["msg"]), param_hint="--strategy/--test-fraction/--validation-fraction") from exc
    if (strategy == "time" and time is None) or (strategy == "group" and entity is None) or strategy == "predefined":
        raise typer.BadParameter("--strategy time needs --time, group needs --entity; predefined needs --split-column", param_hint="--strategy")
    manifest = split_dataset(frame, dataset_version_id="ad-hoc", data=data_spec, split=split_spec, seed=seed)
    return {name: frame[manifest.indices[name]] for name in ("train", "validation", "test")}


def _check_project(ctx: typer.Context, *, dataset: str | None, as_json: bool) -> None:
    from assay.errors import NotFoundError
    from assay.project.pipeline import check_split_leakage, load_dataset_frame, make_split

    with open_project(ctx) as project:
        spec, _ = project.load_spec()
        if dataset is not None:
            version = project.metadata.get_dataset(dataset)
        else:
            found = project.metadata.list_datasets(name=spec.dataset_name, limit=1)
            if not found:
                raise NotFoundError("dataset", spec.dataset_name, hint="run `assay ingest` first")
            version = found[0]
        frame = load_dataset_frame(project, version)
        gate = check_split_leakage(project, frame, make_split(frame, version, spec), spec, version)
    if as_json:
        print_json({"dataset_version": version.id, **gate.to_dict()})
    else:
        _render(gate.report)
        for finding, waiver in gate.waived:
            stdout().print(f"waived in the spec: {finding.kind} ({', '.join(finding.columns)}): {waiver.reason}", markup=False)
        if gate.blocking:
            stdout().print(f"{len(gate.blocking)} critical finding(s) would block `assay train`", markup=False)
    if gate.blocking:
        raise typer.Exit(EXIT_FAILED)


__all__ = ["check_command", "leakage_app"]
