"""`assay leakage check`: look for leakage between ad hoc train/test files, no project needed.

polars, numpy and the detectors are imported inside the command, like the training stack in
lifecycle.py, so that `assay --help` and every other command do not pay for them at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from assay.cli.context import JSON_OPTION
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
            [f"[{_STYLE[f.severity]}]{f.severity}[/]", f.kind, ", ".join(f.columns[:6]) + (" …" if len(f.columns) > 6 else ""), f.message, _examples(f), f.fix]
            for f in report.findings
        ]
        out.print(table(None, ["severity", "kind", "columns", "finding", "examples", "fix"], rows))
    out.print(_summary(report), markup=False)


@leakage_app.command("check")
def check_command(
    train: Path = typer.Option(..., "--train", help="Training rows (CSV or Parquet)."),
    test: Path = typer.Option(..., "--test", help="Test rows (CSV or Parquet)."),
    validation: Path | None = typer.Option(None, "--validation", help="Validation rows (CSV or Parquet), if any."),
    target: str = typer.Option(..., "--target", help="The column the model predicts."),
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
    """Check train/test files for leakage: duplicates, shared entities, time order, target proxies,
    identifiers and preprocessing fitted before the split. Exits 1 when any finding is critical."""
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
    report = check_leakage(
        _read(train), _read(test), declarations, validation=_read(validation) if validation is not None else None, seed=seed
    )
    if as_json:
        print_json(report.to_dict())
    else:
        _render(report)
    if report.critical:
        raise typer.Exit(EXIT_FAILED)


__all__ = ["check_command", "leakage_app"]
