"""`assay labels ingest` and `assay monitor quality`: delayed labels, and quality measured against them."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from assay.cli.context import JSON_OPTION, open_project
from assay.cli.errors import EXIT_FAILED
from assay.cli.monitoring import labels_app, monitor_app
from assay.cli.output import key_values, print_json, stdout, table

if TYPE_CHECKING:
    from assay.monitoring.ingest import IngestSummary
    from assay.monitoring.quality import QualityReport


class KeyName(str, Enum):
    request_id = "request_id"
    entity_time = "entity+time"


@labels_app.command("ingest")
def labels_ingest(
    ctx: typer.Context,
    file: str = typer.Argument(..., help="The labels: a Parquet or CSV file (any fsspec URL)."),
    key: KeyName = typer.Option(KeyName.request_id, "--key", help="request_id: join on request_id (and row); entity+time: the entity's latest prediction at or before the label's event time."),
    label_column: str = typer.Option(None, "--label-column", help="The outcome column (default: monitoring.quality.label_column, else data.target)."),
    entity_column: str = typer.Option(None, "--entity-column", help="entity+time: the entity column (default: data.entity)."),
    time_column: str = typer.Option(None, "--time-column", help="The event-time column (default: event_time); optional with request_id."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Join delayed outcomes (ground truth) to logged predictions, for `assay monitor quality`.

    Every row is checked first (keys present, labels that are classes of the model, times that parse); one bad row stores nothing. The file is kept, unchanged, under .assay/labels/MODEL/; the same file again adds nothing; a later file supersedes earlier labels of the same predictions. A label more than monitoring.quality.max_label_delay after its prediction is not joined (too late). The ingest is recorded in the audit log.

    Examples:  assay labels ingest outcomes.parquet   ·   assay labels ingest defaults.csv --key entity+time --time-column observed_at --json
    """
    from assay.monitoring.ingest import ingest_labels

    with open_project(ctx) as project:
        summary = ingest_labels(project, file, key=key.value, label_column=label_column,  # type: ignore[arg-type]
                                entity_column=entity_column, time_column=time_column)
    if as_json:
        print_json(summary.to_dict())
        return
    _print_ingest(summary)


def _print_ingest(summary: IngestSummary) -> None:
    out = stdout()
    if summary.new:
        out.print(f"stored {summary.labels:,} label(s) for {summary.model} in {summary.stored}")
    else:
        out.print(f"{summary.source} was ingested before (same bytes, same columns): nothing added; it is {summary.stored}")
    out.print(key_values({
        "file": f"{summary.source} (sha256 {summary.sha256[:12]})",
        "key": summary.key,
        "matched": f"{summary.matched:,}",
        "no prediction": f"{summary.no_prediction:,}",
        "too late": f"{summary.too_late:,} (more than {summary.max_label_delay} after the prediction)",
        "superseded": f"{summary.superseded:,} earlier label(s) replaced",
        "predictions": f"{summary.labelled:,} labelled, {summary.unlabelled:,} still without a label",
    }))


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 date or time (2026-03-01 or 2026-03-01T12:00Z)",
                                 param_hint=option) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@monitor_app.command("quality")
def monitor_quality(
    ctx: typer.Context,
    model: str = typer.Option(None, "--model", help="NAME:VERSION, NAME@ALIAS or NAME (default: the model in production, else the newest)."),
    window: str = typer.Option(None, "--window", help="Window length: 30m, 12h, 7d, 2w (default: monitoring.quality.window)."),
    since: str = typer.Option(None, "--since", help="Start of the period (ISO 8601; UTC unless it has an offset). Default: the oldest labelled prediction."),
    until: str = typer.Option(None, "--until", help="End of the period, exclusive. Default: just after the newest labelled prediction."),
    last: int = typer.Option(None, "--last", min=1, help="Only the newest N windows."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Quality against delayed labels: the spec's metrics per window, with confidence intervals and sample sizes, next to the model's offline (test split) evaluation.

    Windows end at --until and go back until one holds --since. A window with fewer than monitoring.quality.min_labels labelled predictions says "not enough data" and has no verdict. Exits 1 when, in some window, the whole interval of the primary metric lies on the bad side of its offline value (a quality drop), 0 otherwise.

    Examples:  assay monitor quality   ·   assay monitor quality --model credit-default:3 --window 1d --last 14   ·   assay monitor quality --since 2026-03-01 --until 2026-04-01 --json
    """
    from assay.monitoring.quality import quality_report
    from assay.spec.monitoring import duration_s

    if window is not None:
        try:
            duration_s(window)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--window") from None
    start, end = _moment(since, "--since"), _moment(until, "--until")
    if start is not None and end is not None and start >= end:
        raise typer.BadParameter("--since must be before --until", param_hint="--since")
    with open_project(ctx) as project:
        report = quality_report(project, model, window=window, since=start, until=end, last=last)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    if report.dropped:
        raise typer.Exit(EXIT_FAILED)


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def _print_report(report: QualityReport) -> None:
    """The primary metric per window with its interval and verdict; then every metric's value."""
    out = stdout()
    primary = report.primary
    rows: list[list[object]] = []
    for w in report.windows:
        verdict: Text | str = "not enough data"
        m = w.primary
        if w.enough:
            verdict = Text("DROP", style="bold red") if m.dropped else Text("ok", style="green")
        interval = f"[{m.low:.4f}, {m.high:.4f}]" if m.low is not None and m.high is not None else "-"
        rows.append([f"{w.since:%Y-%m-%d %H:%M} → {w.until:%Y-%m-%d %H:%M}", f"{w.n:,}",
                     "-" if w.positives is None else f"{w.positives:,}", _fmt(m.value), interval, _fmt(m.offline),
                     _fmt(m.difference, "+.4f"), verdict])
    title = (f"{primary} of {report.model}: {report.window} windows, {report.level:.0%} intervals "
             f"({report.resamples} resamples), at least {report.min_labels} labels per window")
    out.print(table(title, ["window (UTC)", "labelled", "positives", primary, "interval", "offline (test)", "Δ", "verdict"], rows))
    names = [m.metric for m in report.windows[0].metrics] if report.windows else []
    if len(names) > 1:
        offline = {m.metric: m.offline for m in report.windows[0].metrics}
        values = [["offline (test split)", *(_fmt(offline[n]) for n in names)]]
        values += [[f"{w.since:%Y-%m-%d %H:%M}", *(_fmt(m.value) for m in w.metrics)] for w in report.windows]
        out.print(table("every metric (window start; intervals in --json)", ["window", *names], values))
    out.print(f"{report.labelled:,} labelled prediction(s) of {report.model}; {report.unlabelled:,} still without a label")
    dropped = sum(w.primary.dropped for w in report.windows)
    if dropped:
        out.print(f"[bold red]quality drop[/]: {primary} is significantly worse than its offline value in {dropped} window(s)")
    else:
        out.print(f"no window shows {primary} significantly worse than its offline value")


__all__ = ["labels_ingest", "monitor_quality"]
