"""`assay readiness MODEL`: the ML Test Score rubric and the platform's rules, with evidence."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from assay.cli.context import JSON_OPTION, open_project
from assay.cli.errors import EXIT_FAILED
from assay.cli.output import print_json, stdout, table

_STATUS = {"pass": Text("pass", style="green"), "fail": Text("fail", style="red"), "not applicable": Text("n/a", style="dim")}
_TITLES = {"data": "Data", "model": "Model", "infrastructure": "Infrastructure", "monitoring": "Monitoring",
           "platform": "Platform rules (not part of the score)"}


def _short(record: str) -> str:
    """`artifact:<64 hex>` is long for a terminal; the JSON and the HTML page keep it whole."""
    kind, _, value = record.partition(":")
    return f"{kind}:{value[:12]}" if kind == "artifact" else record


def readiness_command(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME:VERSION, NAME@ALIAS or NAME."),
    html: Path | None = typer.Option(None, "--html", help="Also write the report as a self-contained HTML page here."),
    min_score: float | None = typer.Option(
        None, "--min-score", help="Exit 1 when the ML Test Score (the weakest section's) is below this."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Go through the 28 tests of Google's ML Test Score rubric and the platform's rules (lineage, leakage gate, reproducibility, immutable artifact, calibration, fairness, shadow/canary history, SLOs, runbooks, approvals, retention, secrets) and say, for each, pass, fail or not applicable, with the records it was judged on.

    A pass always names its evidence (run:, artifact:, audit:, dataset:, model:, deployment:, spec:, file:), checked now, never taken on trust. A pass Assay checks on every run is worth 1 point; a section's score is its sum and the ML Test Score is the weakest section's. The report is not a verdict: it exits 0 whatever it finds, 1 only below --min-score, 5 when the model does not exist. See docs/readiness.md.

    Examples:  assay readiness credit-default:1   ·   assay readiness credit-default@production --json   ·   assay readiness credit-default --html readiness.html --min-score 3
    """
    # Imported here: the checks load numpy and the training stack, which other commands should not pay for.
    from assay.monitoring.readiness import readiness
    from assay.monitoring.readiness_page import write_readiness_html

    with open_project(ctx) as project:
        report = readiness(project, ref)
    written = write_readiness_html(report, html) if html is not None else None
    if as_json:
        print_json({**report.to_dict(), "html": str(written) if written else None})
    else:
        out = stdout()
        for section in ("data", "model", "infrastructure", "monitoring", "platform"):
            items = report.section(section)
            rows = [[_STATUS[i.status], i.title, i.explanation, "\n".join(_short(e.record) for e in i.evidence)]
                    for i in items]
            score = f": {report.section_scores[section]:g} / {len(items)}" if section in report.section_scores else ""
            out.print(table(f"{_TITLES[section]}{score}", ["status", "test", "why", "evidence"], rows))
        scores = " · ".join(f"{name} {value:g}" for name, value in report.section_scores.items())
        out.print(f"[bold]ML Test Score {report.score:g}[/] (the weakest section; {scores}) · platform rules "
                  f"{report.rules_passed} of {len(report.section('platform'))} pass")
        if written:
            out.print(str(written), markup=False)
    if min_score is not None and report.score < min_score:
        raise typer.Exit(EXIT_FAILED)


__all__ = ["readiness_command"]
