"""`assay data report`: a self-contained HTML page and JSON twin of a dataset version."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from assay.cli.context import state
from assay.cli.report import report_command
from assay.errors import NotFoundError
from assay.project import Project, ingest
from assay.project.demo import create_demo_project, run_demo
from assay.project.report import DataReport, build_report, render_html, write_report
from assay.registry.records import DatasetVersion, Run, RunStatus

PROJECT_OPTION = typer.Option(Path("."), "--project")
SVG_NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_demo(tmp_path_factory.mktemp("report") / "d", rows=5000).project_dir


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context, project: Path = PROJECT_OPTION) -> None:
        state(ctx).project_dir = project

    app.command("report")(report_command)
    return app


def _assert_self_contained(page: str) -> None:
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) <= SVG_NAMESPACES
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "@import" not in page
    assert not re.search(r"url\((?!#)", page)  # only references inside the page


def test_report_of_first_version_is_self_contained_and_calm(demo: Path, tmp_path: Path) -> None:
    with Project.open(demo) as project:
        report = build_report(project)
    html_path, json_path = write_report(report, tmp_path / "out")
    page = html_path.read_text(encoding="utf-8")
    _assert_self_contained(page)
    assert "<svg" in page
    assert report.dataset.id in page
    body = page[page.index("<body>") :]
    assert body.index("Act on this") < body.index("<h2>Dataset</h2>") < body.index("<h2>Checks</h2>")
    assert "Nothing needs action" in page
    twin = json.loads(json_path.read_text(encoding="utf-8"))
    assert twin["dataset"]["id"] == report.dataset.id
    assert twin["dataset"]["rows"] == report.dataset.row_count
    assert twin["actions"] == []
    assert twin["reference"] is None
    assert twin["leakage"]["run_id"]  # the demo's training run checked this version
    assert set(twin["profile"]["columns"]) >= {"debt_to_income", "purpose"}
    assert "email" not in twin["profile"]["columns"]  # declared PII is never stored, so never profiled
    assert not list((tmp_path / "out").glob(".*.tmp"))
    assert render_html(report) == page  # deterministic


def test_report_lists_drift_failure_after_shifted_batch(demo: Path, tmp_path: Path) -> None:
    source = demo / "data" / "applications.csv"
    frame = pl.read_csv(source, infer_schema_length=None)
    frame.with_columns(pl.col("debt_to_income") * 3).write_csv(source)
    with Project.open(demo) as project:
        result = ingest(project)
        first = build_report(project)
    assert result.created and first.dataset.id == result.dataset.id
    assert first.reference is not None and first.compared_profile is not None
    drift_actions = [a for a in first.actions if a.kind == "drift-failed"]
    assert "debt_to_income" in {a.subject for a in drift_actions}
    kinds = [a.kind for a in first.actions]
    assert kinds == sorted(
        kinds,
        key=[
            "leakage",
            "check-failed",
            "drift-failed",
            "drift-warning",
            "check-warned",
        ].index,
    )

    runner = CliRunner()
    outcome = runner.invoke(_app(), ["--project", str(demo), "report", "--json"])
    assert outcome.exit_code == 0, outcome.output
    printed = json.loads(outcome.stdout)
    assert Path(printed["html"]) == demo / ".assay" / "reports" / result.dataset.id / "report.html"
    assert {"kind": "drift-failed", "subject": "debt_to_income"}.items() <= next(
        a for a in printed["actions"] if a["subject"] == "debt_to_income"
    ).items()
    page = Path(printed["html"]).read_text(encoding="utf-8")
    _assert_self_contained(page)
    act = page[page.index('id="act"') : page.index("<h2>Dataset</h2>")]
    assert "drift failure" in act and "debt_to_income" in act
    assert "Nothing needs action" not in page
    twin = json.loads(Path(printed["json"]).read_text(encoding="utf-8"))
    assert twin["reference"]["id"] == first.reference.id
    assert twin["actions"] == [a.to_dict() for a in first.actions]

    outcome = runner.invoke(
        _app(),
        [
            "--project",
            str(demo),
            "report",
            "--dataset",
            first.reference.id,
            "--out",
            str(tmp_path),
        ],
    )
    assert outcome.exit_code == 0, outcome.output
    assert outcome.stdout.split() == [
        str(tmp_path / "report.html"),
        str(tmp_path / "report.json"),
    ]


def test_report_without_a_dataset_version_says_to_ingest(tmp_path: Path) -> None:
    create_demo_project(tmp_path / "empty", rows=1000)
    with (
        Project.open(tmp_path / "empty") as project,
        pytest.raises(NotFoundError, match="applications") as caught,
    ):
        build_report(project)
    assert "assay ingest" in caught.value.hint


def _check(check: str, column: str, message: str, severity: str = "error") -> dict[str, object]:
    return {
        "check": check,
        "column": column,
        "passed": False,
        "severity": severity,
        "message": message,
        "failed_count": 3,
        "examples": ["<b>x</b>"],
    }


def test_actions_come_in_order_and_all_text_is_escaped() -> None:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    quarantined, warned = _check("range", "amount", "3 values < 0"), _check("nullable", "income", "<script>x</script>")
    dataset = DatasetVersion(
        id="ds-1",
        name="t",
        source_uri="t.csv",
        content_hash="c",
        snapshot_sha256="s",
        row_count=10,
        column_count=2,
        schema={"columns": {}},
        created_at=at,
        created_by="<me>",
        checks={
            "checks": 5,
            "errors": [quarantined, warned],
            "warned": [warned],
            "warnings": [],
            "quarantine": {"dataset_version": "ds-q", "rows": 3, "by_check": {"range:amount": 3}},
            "drift": {
                "reference": "ds-0",
                "checks": 4,
                "failed": [_check("drift.psi", "dti", "psi 0.9")],
                "warnings": [_check("drift.ks", "age", "ks 0.2", "warning")],
            },
        },
    )
    finding = {
        "kind": "target_proxy",
        "severity": "critical",
        "columns": ["paid"],
        "message": "leaks <y>",
        "fix": "drop",
    }
    run = Run(
        id="run-1",
        project="p",
        dataset_version_id="ds-1",
        status=RunStatus.FAILED,
        seed=1,
        spec_sha256="x",
        environment={},
        params={},
        metrics={},
        artifacts={},
        started_at=at,
        finished_at=at,
        created_by="me",
    )
    report = DataReport(
        dataset, None, None, None, None, run, {"findings": [finding], "blocking": [finding], "waived": []}, at
    )
    assert [(a.kind, a.subject) for a in report.actions] == [
        ("leakage", "paid"),
        ("check-failed", "amount"),
        ("drift-failed", "dti"),
        ("drift-warning", "age"),
        ("check-warned", "income"),
    ]
    page = render_html(report)
    assert "<script>" not in page and "<b>x</b>" not in page and "<me>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "leaks &lt;y&gt;" in page
    act = page[page.index('id="act"') : page.index("<h2>Dataset</h2>")]
    positions = [act.index(f"<b>{subject}</b>") for subject in ("paid", "amount", "dti", "age", "income")]
    assert positions == sorted(positions)
    assert json.loads(json.dumps(report.to_dict()))["leakage"]["run_id"] == "run-1"
