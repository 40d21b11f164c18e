"""The readiness report as one self-contained HTML page: the score, one table per section with each
item's status, explanation and evidence, and how to open each piece of evidence. No scripts, no
external resources; built with the helpers of the data report and the model card."""

from __future__ import annotations

from pathlib import Path

from assay.monitoring.readiness_facts import (
    RUBRIC_SECTIONS,
    RULES_SECTION,
    ReadinessItem,
    ReadinessReport,
)
from assay.project.page import STYLE, escape, html_table, write_atomic

SECTION_TITLES = {
    "data": "Data",
    "model": "Model",
    "infrastructure": "Infrastructure",
    "monitoring": "Monitoring",
    RULES_SECTION: "Platform rules",
}
# How to open each kind of evidence reference: the command (or place) that shows the record.
OPENERS = {
    "run": "assay runs show {}",
    "dataset": "assay datasets show {}",
    "model": "assay models show {}",
    "deployment": "assay deployment",
    "artifact": "assay artifacts verify (sha256 {})",
    "audit": "assay audit log (seq {})",
    "spec": "assay.yaml: {}",
    "file": "{}",
}
_TAG = {"pass": "ok-tag", "fail": "check-failed", "not applicable": ""}
_EXTRA_STYLE = ".ok-tag{background:#2e7d32}"


def opener(record: str) -> str:
    kind, _, value = record.partition(":")
    return OPENERS.get(kind, "{}").format(value)


def render_readiness_html(report: ReadinessReport) -> str:
    scores = report.section_scores
    weakest = min(scores, key=lambda name: scores[name])
    rules = report.section(RULES_SECTION)
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>Readiness: {escape(report.model)}</title><style>{STYLE}{_EXTRA_STYLE}</style></head><body>",
        f"<h1>Readiness of {escape(report.model)}</h1>",
        f'<div class="{"ok" if report.score >= 5 else "act"}"><strong>ML Test Score {report.score:g}</strong> '
        f"(the weakest section, {escape(SECTION_TITLES[weakest])}); platform rules: {report.rules_passed} of "
        f"{len(rules)} pass.</div>",
        html_table(["section", "score"], [[escape(SECTION_TITLES[n]), f"{scores[n]:g} / 7"] for n in RUBRIC_SECTIONS]),
        f"<p class=\"muted\">Run {escape(report.run_id)} · generated {escape(report.generated_at)}. A pass is worth "
        "1 point when Assay checks it on every run; a fail or a test Assay cannot judge is worth 0. Every pass "
        "names the records it was judged on.</p>",
    ]
    for section in (*RUBRIC_SECTIONS, RULES_SECTION):
        parts.append(f"<h2>{escape(SECTION_TITLES[section])}</h2>")
        parts.append(html_table(["test", "status", "why", "evidence"], [_row(i) for i in report.section(section)]))
    parts.append("</body></html>")
    return "\n".join(parts)


def _row(item: ReadinessItem) -> list[str]:
    tag = f'<span class="tag {_TAG[item.status]}">{escape(item.status)}</span>'
    evidence = "<br>".join(
        f"{escape(e.what)}: <code>{escape(e.record)}</code> <span class=\"muted\">({escape(opener(e.record))})</span>"
        for e in item.evidence
    )
    return [f"{escape(item.title)}<br><span class=\"muted\">{escape(item.id)}</span>", tag, escape(item.explanation),
            evidence or '<span class="muted">none</span>']


def write_readiness_html(report: ReadinessReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, render_readiness_html(report))
    return path


__all__ = ["opener", "render_readiness_html", "write_readiness_html"]
