"""The data report of one dataset version: what needs action first, then the facts, checks, drift,
per-column plots and leakage findings, as one self-contained HTML page and a JSON twin."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from assay.data.dataset import read_snapshot
from assay.data.profile import (
    CategoricalProfile,
    ColumnProfile,
    DatasetProfile,
    NumericProfile,
    profile_with_edges,
)
from assay.errors import NotFoundError
from assay.project.page import STYLE, escape, figure_svg, html_table, plot_text, small_figure, write_atomic
from assay.project.workspace import Project
from assay.registry.records import DatasetVersion, Run

FORMAT_VERSION = 1
MAX_COLUMN_PLOTS = 30  # keeps rendering fast; the page says when columns were left out
TOP_CATEGORY_BARS = 10
RUNS_SEARCHED = 500  # how many of the newest runs are searched for one on the dataset version

ActionKind = Literal["leakage", "check-failed", "drift-failed", "drift-warning", "check-warned"]
_ACTION_ORDER: tuple[ActionKind, ...] = (
    "leakage",
    "check-failed",
    "drift-failed",
    "drift-warning",
    "check-warned",
)


@dataclass(frozen=True, slots=True)
class Action:
    """One thing a person should look at, most urgent kinds first."""

    kind: ActionKind
    subject: str  # the column(s), or the finding kind
    check: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "check": self.check,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class DataReport:
    """Everything the report shows, gathered from the records (nothing is recomputed but the
    current batch's histograms on the reference's bins, so the two compare)."""

    dataset: DatasetVersion
    profile: DatasetProfile | None
    reference: DatasetVersion | None
    reference_profile: DatasetProfile | None
    compared_profile: DatasetProfile | None  # the current batch on the reference's bins and categories
    leakage_run: Run | None
    leakage: Mapping[str, Any] | None  # LeakageGate.to_dict() of leakage_run
    generated_at: datetime

    @property
    def quarantined_checks(self) -> list[dict[str, Any]]:
        """Failed checks whose rows were moved to quarantine (the others were warned by policy)."""
        warned = {(r.get("check"), r.get("column")) for r in self.dataset.checks.get("warned", [])}
        return [r for r in self.dataset.checks.get("errors", []) if (r.get("check"), r.get("column")) not in warned]

    @property
    def warned_checks(self) -> list[dict[str, Any]]:
        """Failed checks let through by `data.policy: warn`, and checks of warning severity."""
        return [
            *self.dataset.checks.get("warned", []),
            *self.dataset.checks.get("warnings", []),
        ]

    @property
    def drift(self) -> Mapping[str, Any]:
        return self.dataset.checks.get("drift") or {}

    @property
    def critical_findings(self) -> list[dict[str, Any]]:
        """Critical leakage findings that no waiver covers."""
        return list((self.leakage or {}).get("blocking", []))

    @property
    def actions(self) -> tuple[Action, ...]:
        found: list[Action] = []
        for f in self.critical_findings:
            found.append(
                Action(
                    "leakage",
                    ", ".join(f.get("columns", [])) or "rows",
                    f.get("kind", ""),
                    f.get("message", ""),
                )
            )
        grouped: tuple[tuple[ActionKind, Sequence[Mapping[str, Any]]], ...] = (
            ("check-failed", self.quarantined_checks),
            ("drift-failed", self.drift.get("failed", [])),
            ("drift-warning", self.drift.get("warnings", [])),
            ("check-warned", self.warned_checks),
        )
        for kind, results in grouped:
            for r in results:
                found.append(
                    Action(
                        kind,
                        r.get("column") or "the batch",
                        r.get("check", ""),
                        r.get("message", ""),
                    )
                )
        return tuple(sorted(found, key=lambda a: _ACTION_ORDER.index(a.kind)))

    def to_dict(self) -> dict[str, Any]:
        d = self.dataset
        return {
            "format": FORMAT_VERSION,
            "generated_at": self.generated_at.isoformat(),
            "dataset": {
                "id": d.id,
                "name": d.name,
                "source_uri": d.source_uri,
                "content_hash": d.content_hash,
                "snapshot_sha256": d.snapshot_sha256,
                "profile_sha256": d.profile_sha256,
                "rows": d.row_count,
                "columns": d.column_count,
                "created_at": d.created_at.isoformat(),
                "created_by": d.created_by,
            },
            "actions": [a.to_dict() for a in self.actions],
            "checks": {
                "count": d.checks.get("checks"),
                "policy": dict(d.checks.get("policy", {})),
                "quarantined": self.quarantined_checks,
                "warned": self.warned_checks,
            },
            "quarantine": dict(d.checks.get("quarantine") or {}),
            "drift": dict(self.drift),
            "profile": self.profile.to_dict() if self.profile else None,
            "reference": None
            if self.reference is None
            else {
                "id": self.reference.id,
                "profile": self.reference_profile.to_dict() if self.reference_profile else None,
                "current_on_reference_bins": self.compared_profile.to_dict() if self.compared_profile else None,
            },
            "leakage": None
            if self.leakage is None or self.leakage_run is None
            else {
                "run_id": self.leakage_run.id,
                "run_status": self.leakage_run.status.value,
                **self.leakage,
            },
        }


def build_report(project: Project, dataset_id: str | None = None) -> DataReport:
    """Gather the report of `dataset_id` (default: the newest version of the spec's dataset)."""
    if dataset_id is None:
        name = project.load_spec()[0].dataset_name
        newest = project.metadata.list_datasets(name=name, limit=1)
        if not newest:
            raise NotFoundError(
                "dataset",
                name,
                hint="run `assay ingest` to record a version of it first",
            )
        dataset = newest[0]
    else:
        dataset = project.metadata.get_dataset(dataset_id)
    profile = _load_profile(project, dataset)
    reference = reference_profile = compared = None
    reference_id = (dataset.checks.get("drift") or {}).get("reference")
    if reference_id:
        reference = project.metadata.get_dataset(reference_id)
        reference_profile = _load_profile(project, reference)
        if reference_profile is not None:
            frame = read_snapshot(project.artifacts.get_bytes(dataset.snapshot_sha256))
            compared = profile_with_edges(frame, reference_profile)
    run = next(
        (
            r
            for r in project.metadata.list_runs(limit=RUNS_SEARCHED)
            if r.dataset_version_id == dataset.id and "leakage" in r.artifacts
        ),
        None,
    )
    leakage = json.loads(project.artifacts.get_bytes(run.artifacts["leakage"])) if run else None
    return DataReport(
        dataset,
        profile,
        reference,
        reference_profile,
        compared,
        run,
        leakage,
        project.clock.now(),
    )


def _load_profile(project: Project, dataset: DatasetVersion) -> DatasetProfile | None:
    if not dataset.profile_sha256:
        return None
    return DatasetProfile.from_dict(json.loads(project.artifacts.get_bytes(dataset.profile_sha256)))


def write_report(report: DataReport, out_dir: Path) -> tuple[Path, Path]:
    """Write `report.html` and `report.json` into `out_dir`, each atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, json_path = out_dir / "report.html", out_dir / "report.json"
    write_atomic(html_path, render_html(report))
    write_atomic(json_path, json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    return html_path, json_path


# --- HTML ------------------------------------------------------------------------

_ACTION_LABELS: Mapping[str, str] = {
    "leakage": "critical leakage",
    "check-failed": "failed check (rows quarantined)",
    "drift-failed": "drift failure",
    "drift-warning": "drift warning",
    "check-warned": "warned check",
}


def render_html(report: DataReport) -> str:
    """The report as one self-contained HTML page: inline CSS and SVG, no scripts, no external links."""
    d = report.dataset
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Assay data report: {escape(d.id)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Data report: <code>{escape(d.id)}</code></h1>",
        _actions_section(report),
        _facts_section(report),
        _checks_section(report),
        _drift_section(report),
        _plots_section(report),
        _leakage_section(report),
        f'<p class="muted">Generated by Assay at {escape(report.generated_at.isoformat())}.</p>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _actions_section(report: DataReport) -> str:
    actions = report.actions
    if not actions:
        return '<section id="act" class="ok"><h2>Act on this</h2><p>Nothing needs action.</p></section>'
    items = "".join(
        f'<li><span class="tag {a.kind}">{escape(_ACTION_LABELS[a.kind])}</span> <code>{escape(a.check)}</code> on '
        f"<b>{escape(a.subject)}</b>: {escape(a.message)}</li>"
        for a in actions
    )
    return f'<section id="act" class="act"><h2>Act on this</h2><ol>{items}</ol></section>'


def _facts_section(report: DataReport) -> str:
    d = report.dataset
    facts = {
        "dataset version": d.id,
        "name": d.name,
        "source": d.source_uri,
        "rows × columns": f"{d.row_count} × {d.column_count}",
        "created": f"{d.created_at.isoformat()} by {d.created_by}",
        "content sha256": d.content_hash,
        "snapshot sha256": d.snapshot_sha256,
        "reference version (drift)": report.reference.id if report.reference else "none (first version)",
        "not stored (declared PII)": ", ".join(d.schema.get("not_stored", [])) or "-",
    }
    rows = [[f"<b>{escape(k)}</b>", f"<code>{escape(v)}</code>" if "sha256" in k else escape(v)] for k, v in facts.items()]
    return "<section><h2>Dataset</h2>" + html_table(["", ""], rows) + "</section>"


def _check_rows(status: str, css: str, results: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    return [
        [
            f'<span class="tag {css}">{escape(status)}</span>',
            f"<code>{escape(r.get('check'))}</code>",
            escape(r.get("column") or "the batch"),
            escape(r.get("message")),
            escape(r.get("failed_count", "")),
            escape(", ".join(map(str, r.get("examples", [])))),
        ]
        for r in results
    ]


def _checks_section(report: DataReport) -> str:
    checks = report.dataset.checks
    rows = _check_rows("quarantined", "check-failed", report.quarantined_checks)
    rows += _check_rows("warned", "check-warned", report.warned_checks)
    count = checks.get("checks", "?")
    summary = f"<p>{escape(count)} schema check(s) ran; {len(rows)} did not pass cleanly.</p>"
    quarantine = checks.get("quarantine") or {}
    if quarantine.get("rows"):
        by_check = ", ".join(f"{k}: {v}" for k, v in (quarantine.get("by_check") or {}).items())
        summary += (
            f"<p>{escape(quarantine['rows'])} row(s) were quarantined into dataset version "
            f"<code>{escape(quarantine.get('dataset_version'))}</code> ({escape(by_check)}).</p>"
        )
    table = (
        html_table(
            [
                "status",
                "check",
                "column",
                "message",
                "failed rows",
                "examples (PII masked)",
            ],
            rows,
        )
        if rows
        else ""
    )
    return f"<section><h2>Checks</h2>{summary}{table}</section>"


def _drift_section(report: DataReport) -> str:
    drift = report.drift
    if not drift.get("reference"):
        return "<section><h2>Drift</h2><p>No reference version: this is the first recorded version of the dataset.</p></section>"
    rows = _check_rows("failed", "drift-failed", drift.get("failed", []))
    rows += _check_rows("warning", "drift-warning", drift.get("warnings", []))
    summary = (
        f"<p>Compared with <code>{escape(drift['reference'])}</code>: {escape(drift.get('checks', '?'))} drift check(s), "
        f"{len(rows)} flagged.</p>"
    )
    table = html_table(["status", "check", "column", "message"], [r[:4] for r in rows]) if rows else ""
    return f"<section><h2>Drift</h2>{summary}{table}</section>"


def _leakage_section(report: DataReport) -> str:
    if report.leakage is None or report.leakage_run is None:
        return "<section><h2>Leakage</h2><p>No training run has checked this dataset version for leakage yet.</p></section>"
    blocking = {json.dumps(f, sort_keys=True) for f in report.leakage.get("blocking", [])}
    waived = {json.dumps(w["finding"], sort_keys=True): w.get("reason", "") for w in report.leakage.get("waived", [])}
    rows = []
    for f in report.leakage.get("findings", []):
        key = json.dumps(f, sort_keys=True)
        status = "blocking" if key in blocking else f"waived: {waived[key]}" if key in waived else "-"
        rows.append(
            [
                f'<span class="tag {escape(f.get("severity"))}">{escape(f.get("severity"))}</span>',
                f"<code>{escape(f.get('kind'))}</code>",
                escape(", ".join(f.get("columns", [])) or "rows"),
                escape(f.get("message")),
                escape(f.get("fix")),
                escape(status),
            ]
        )
    head = f"<p>From run <code>{escape(report.leakage_run.id)}</code> ({escape(report.leakage_run.status.value)}).</p>"
    body = html_table(["severity", "kind", "columns", "message", "fix", "status"], rows) if rows else "<p>No findings.</p>"
    return f"<section><h2>Leakage</h2>{head}{body}</section>"


# --- plots -------------------------------------------------------------------------

_CURRENT, _REFERENCE = "#2c6fbb", "#b0b7c3"


def _plots_section(report: DataReport) -> str:
    profile = report.profile
    if profile is None:
        return "<section><h2>Columns</h2><p>This dataset version has no profile.</p></section>"
    names = list(profile.columns)
    shown = names[:MAX_COLUMN_PLOTS]
    types = {n: c.get("type", "") for n, c in report.dataset.schema.get("columns", {}).items()}
    svgs = [_null_rate_svg(profile, report.reference_profile, salt=0)]
    for index, name in enumerate(shown, start=1):
        current = profile.columns[name]
        reference = report.reference_profile.columns.get(name) if report.reference_profile else None
        compared = report.compared_profile.columns.get(name) if report.compared_profile else None
        if isinstance(current, NumericProfile):
            svgs.append(_numeric_svg(name, types.get(name, ""), current, reference, compared, salt=index))
        else:
            svgs.append(_categorical_svg(name, current, reference, salt=index))
    note = (
        f'<p class="muted">Showing {len(shown)} of {len(names)} columns; the rest are in report.json.</p>'
        if len(shown) < len(names)
        else ""
    )
    legend = "current batch in blue" + (", reference in grey" if report.reference_profile else "")
    blocks = "".join(f'<div class="plot">{svg}</div>' for svg in svgs)
    return (
        f'<section><h2>Columns</h2><p class="muted">{escape(legend)}.</p>{note}<div class="plots">{blocks}</div></section>'
    )


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def _edge_label(value: float, column_type: str) -> str:
    try:
        if column_type == "date":
            return (date(1970, 1, 1) + timedelta(days=int(value))).isoformat()
        if column_type == "datetime":
            return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(value))).date().isoformat()
    except (OverflowError, ValueError):
        pass
    if value == int(value) and abs(value) < 1e9:
        return f"{int(value):,}"
    return f"{value:.4g}"


def _numeric_svg(
    name: str,
    column_type: str,
    current: NumericProfile,
    reference: ColumnProfile | None,
    compared: ColumnProfile | None,
    *,
    salt: int,
) -> str:
    """Shares per bin; with a reference, both on the reference's bins (the ones drift is measured on)."""
    figure, axes = small_figure()
    if isinstance(reference, NumericProfile) and isinstance(compared, NumericProfile):
        bins, edges = compared.histogram, reference.edges
        axes.step(
            range(len(bins)),
            _shares(reference.histogram),
            where="mid",
            color=_REFERENCE,
            linewidth=2,
            label="reference",
        )
    else:
        bins, edges = current.histogram, current.edges
    axes.step(
        range(len(bins)),
        _shares(bins),
        where="mid",
        color=_CURRENT,
        linewidth=1.5,
        label="current",
    )
    if len(bins) == len(edges) + 1 and edges:
        step = max(1, len(edges) // 5)
        positions = list(range(0, len(edges), step))
        axes.set_xticks(
            [i + 0.5 for i in positions],
            [_edge_label(edges[i], column_type) for i in positions],
            rotation=30,
            ha="right",
        )
    axes.set_title(plot_text(name, 48), fontsize=9)
    axes.set_ylabel("share of rows", fontsize=7)
    missing = current.missing_count / current.count if current.count else 0.0
    axes.set_xlabel(f"bins (outer bins open-ended); missing {missing:.1%}", fontsize=7)
    return figure_svg(figure, salt)


def _categorical_svg(name: str, current: ColumnProfile, reference: ColumnProfile | None, *, salt: int) -> str:
    figure, axes = small_figure()
    if not isinstance(current, CategoricalProfile):
        return figure_svg(figure, salt)
    own = dict(
        zip(
            current.categories,
            _shares([*current.counts, current.other_count]),
            strict=False,
        )
    )
    ref: dict[str, float] = {}
    if isinstance(reference, CategoricalProfile):
        ref = dict(
            zip(
                reference.categories,
                _shares([*reference.counts, reference.other_count]),
                strict=False,
            )
        )
    ranked = sorted(set(own) | set(ref), key=lambda c: (-max(own.get(c, 0.0), ref.get(c, 0.0)), c))
    top = ranked[:TOP_CATEGORY_BARS][::-1]
    positions = range(len(top))
    if ref:
        axes.barh(
            [p + 0.2 for p in positions],
            [ref.get(c, 0.0) for c in top],
            height=0.4,
            color=_REFERENCE,
            label="reference",
        )
    axes.barh(
        [p - 0.2 if ref else p for p in positions],
        [own.get(c, 0.0) for c in top],
        height=0.4,
        color=_CURRENT,
        label="current",
    )
    axes.set_yticks(list(positions), [plot_text(c) for c in top])
    hidden = len(ranked) - len(top)
    axes.set_title(
        plot_text(name, 48) + (f" (top {len(top)} of {len(ranked)})" if hidden else ""),
        fontsize=9,
    )
    axes.set_xlabel("share of non-missing rows", fontsize=7)
    return figure_svg(figure, salt)


def _null_rate_svg(profile: DatasetProfile, reference: DatasetProfile | None, *, salt: int) -> str:
    names = list(profile.columns)[::-1]
    figure, axes = small_figure(height=max(2.4, 0.22 * len(names) + 0.8))

    def rate(column: ColumnProfile | None) -> float:
        return column.missing_count / column.count if column is not None and column.count else 0.0

    positions = range(len(names))
    if reference is not None:
        axes.barh(
            [p + 0.2 for p in positions],
            [rate(reference.columns.get(n)) for n in names],
            height=0.4,
            color=_REFERENCE,
        )
    axes.barh(
        [p - 0.2 if reference else p for p in positions],
        [rate(profile.columns[n]) for n in names],
        height=0.4,
        color=_CURRENT,
    )
    axes.set_yticks(list(positions), [plot_text(n) for n in names])
    axes.set_title("missing values per column", fontsize=9)
    axes.set_xlabel("share of rows null or NaN", fontsize=7)
    return figure_svg(figure, salt)


__all__ = ["Action", "DataReport", "build_report", "render_html", "write_report"]
