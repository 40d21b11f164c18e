"""How an approval review is shown: plain text lines (what `assay models review` prints) and one
self-contained HTML page (inline CSS, no scripts, no external links). Both are pure functions of
a `Review`, and both mask any secret resolved in this process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from assay.evaluation.assessment import GateResult
from assay.project.page import STYLE, escape, html_table
from assay.project.review import MetricDelta, Review, ReviewDiff
from assay.security.redaction import redact_text

_REVIEW_STYLE = (
    ".pass{background:#2e7d32}.fail{background:#c0392b}"
    "pre.diff{background:#f7f8fa;border:1px solid #e7e9ef;padding:.5rem;overflow-x:auto;font-size:.85rem}"
    ".add{color:#1b5e20}.del{color:#b71c1c}.hunk{color:#6b7280}"
)


# --- text ------------------------------------------------------------------------------


def render_review_text(review: Review) -> list[str]:
    """The review as plain lines: model, card, gates, waivers, the diff with production, approvals."""
    model = review.model
    aliases = f" @{', @'.join(review.aliases)}" if review.aliases else ""
    card = review.card
    lines = [
        f"review of {model.ref}{aliases} ({model.status.value}, {model.flavor})",
        f"  registered {model.created_at.isoformat()} by {model.created_by}, run {model.run_id}",
        f"card: verdict {_verdict(card.passed)}"
        + (f"; {card.primary_metric} {_num(card.metrics.get(card.primary_metric))} (test)" if card.primary_metric else ""),
    ]
    if model.description:
        lines.insert(2, f"  description: {model.description}")
    if card.html_path:
        lines.append(f"  page {card.html_path}")
    lines.extend(f"  warning: {w}" for w in card.warnings)
    passed = sum(g.passed for g in review.gates)
    lines.append(f"gates: {passed} of {len(review.gates)} passed" if review.gates else "gates: none declared")
    lines.extend(f"  {_gate_text(g)}" for g in review.gates)
    lines.append(f"leakage waivers: {len(review.waivers)}" if review.waivers else "leakage waivers: none")
    for waiver in review.waivers:
        columns = f" ({', '.join(waiver.columns)})" if waiver.columns else ""
        lines.append(f"  {waiver.kind}{columns}: {waiver.reason} [waived {len(waiver.waived)} finding(s) in this run]")
    lines.append(f"production: {review.production or 'none'}")
    lines.extend(_diff_text(review.diff))
    lines.append(_approvals_text(review.approvals, review.policy))
    lines.extend(f"note: {n}" for n in review.notes)
    return [redact_text(line) for line in lines]


def _diff_text(diff: ReviewDiff) -> list[str]:
    if diff.note:
        return [f"diff: {diff.note}"]
    lines = [f"diff against {diff.against}:"]
    if diff.metrics:
        width = max(len(m.metric) for m in diff.metrics) + len(" (primary)")
        lines.append(f"  {'metric (test)':<{width}}  {'this':>10}  {'production':>10}  {'delta':>10}")
        lines.extend(
            f"  {m.metric + (' (primary)' if m.primary else ''):<{width}}  {_num(m.candidate):>10}  "
            f"{_num(m.production):>10}  {_signed(m.delta):>10}{_improved(m)}"
            for m in diff.metrics
        )
    changes = [f"added {', '.join(diff.features_added)}" if diff.features_added else "",
               f"removed {', '.join(diff.features_removed)}" if diff.features_removed else ""]
    changes += [f"{name} type {old} -> {new}" for name, old, new in diff.type_changed]
    changes += [f"{name} version {old} -> {new}" for name, old, new in diff.versions_changed]
    lines.append(f"  features: {'; '.join(c for c in changes if c) or 'unchanged'}")
    if diff.dataset is not None:
        new, old = diff.dataset["candidate"], diff.dataset["production"]
        lines.append(f"  dataset: {new['id']} ({new['rows']:,} rows)" + (
            ", the same as production" if diff.dataset["same"] else f", production {old['id']} ({old['rows']:,} rows)"))
    lines.append("  spec: unchanged" if not diff.spec_diff else "  spec:")
    lines.extend(f"    {line}" for line in diff.spec_diff)
    return lines


def _gate_text(gate: GateResult) -> str:
    detail = f"; {gate.detail}" if gate.detail else ""
    return f"{'pass' if gate.passed else 'FAIL'}  {gate.gate}: {_num(gate.value)} (needs {gate.threshold}){detail}"


def _approvals_text(approvals: Sequence[Mapping[str, Any]], policy: Mapping[str, Any] | None) -> str:
    policy = policy or {}
    required = policy.get("required")
    who = "; ".join(f"{a.get('decision', 'approve')} by {a.get('actor', '?')} at {a.get('at', '?')}" for a in approvals)
    if required is None:
        return f"approvals: {who}" if who else "approvals: none recorded"
    approved = len(policy.get("approved_by", ()))
    text = f"approvals: {approved} of {required}" + (f" ({who})" if who else "")
    if policy.get("met"):
        return text + "; the policy is met"
    return text + (f"; still needed: {policy['missing']}" if policy.get("missing") else "")


def _verdict(passed: bool | None) -> str:
    return "unknown (no card)" if passed is None else ("passed" if passed else "FAILED")


def _num(value: Any) -> str:
    return "-" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def _improved(metric: MetricDelta) -> str:
    return "" if metric.improved is None else ("  better" if metric.improved else "  worse")


# --- HTML ------------------------------------------------------------------------------


def render_review_html(review: Review, *, card_href: str | None = None) -> str:
    """The review as one self-contained page. `card_href` is where the card page is (default: the
    stored card artifact's path)."""
    model = review.model
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Assay review: {escape(model.ref)}</title><style>{STYLE}{_REVIEW_STYLE}</style></head><body>",
        f"<h1>Review: <code>{escape(model.ref)}</code></h1>",
        _summary_html(review, card_href or review.card.html_path),
        _gates_html(review.gates),
        _waivers_html(review),
        _diff_html(review.diff),
        f"<section id=\"approvals\"><h2>Approvals</h2><p>{escape(_approvals_text(review.approvals, review.policy))}</p></section>",
        "".join(f'<p class="muted">note: {escape(n)}</p>' for n in review.notes),
        "</body></html>",
    ]
    return redact_text("\n".join(p for p in parts if p) + "\n")


def _summary_html(review: Review, card_href: str | None) -> str:
    model, card = review.model, review.card
    failed = [g for g in review.gates if not g.passed]
    box = "act" if failed or card.passed is False else "ok"
    headline = (f"{len(failed)} of {len(review.gates)} gate(s) failed" if failed
                else f"card verdict: {_verdict(card.passed)}")
    link = f' · <a href="{escape(card_href)}">model card</a>' if card_href else ""
    facts = html_table(["", ""], [[f"<b>{escape(key)}</b>", value] for key, value in (
        ("status", escape(model.status.value)),
        ("aliases", escape(", ".join(review.aliases) or "-")),
        ("registered", f"{escape(model.created_at.isoformat())} by {escape(model.created_by)}"),
        ("run", f"<code>{escape(model.run_id)}</code>"),
        ("card sha256", f"<code>{escape(card.html_sha256 or '-')}</code>"),
        ("production", f"<code>{escape(review.production or 'none')}</code>"),
    )])
    description = f"<p>{escape(model.description)}</p>" if model.description else ""
    return (f'<div class="{box}"><p><b>{escape(headline)}</b>{link}</p>{description}</div>'
            f"<section id=\"model\"><h2>Model</h2>{facts}</section>")


def _gates_html(gates: Sequence[GateResult]) -> str:
    if not gates:
        return '<section id="gates"><h2>Evaluation gates</h2><p>The spec declares no gates.</p></section>'
    rows = [[f"<code>{escape(g.gate)}</code>", escape(_num(g.value)), escape(g.threshold), _tag(g.passed),
             escape(g.detail)] for g in gates]
    return f'<section id="gates"><h2>Evaluation gates</h2>{html_table(["gate", "value", "needs", "", "detail"], rows)}</section>'


def _waivers_html(review: Review) -> str:
    if not review.waivers:
        return '<section id="waivers"><h2>Leakage waivers</h2><p>The spec waives no leakage finding.</p></section>'
    rows = [[f"<code>{escape(w.kind)}</code>", escape(", ".join(w.columns) or "any"), escape(w.reason),
             escape(len(w.waived))] for w in review.waivers]
    table = html_table(["kind", "columns", "reason", "findings waived in this run"], rows)
    return f'<section id="waivers"><h2>Leakage waivers</h2>{table}</section>'


def _diff_html(diff: ReviewDiff) -> str:
    title = f"Compared with production <code>{escape(diff.against)}</code>" if diff.against else "Compared with production"
    if diff.note:
        return f'<section id="diff"><h2>{title}</h2><p>{escape(diff.note)}</p></section>'
    metrics = html_table(["test metric", "this model", "production", "delta", ""], [
        [f"<code>{escape(m.metric)}</code>" + (" (primary)" if m.primary else ""), escape(_num(m.candidate)),
         escape(_num(m.production)), escape(_signed(m.delta)), escape(_improved(m).strip())] for m in diff.metrics
    ])
    features = html_table(["change", "features"], [
        ["added", escape(", ".join(diff.features_added) or "-")],
        ["removed", escape(", ".join(diff.features_removed) or "-")],
        ["type changed", escape("; ".join(f"{n}: {a} → {b}" for n, a, b in diff.type_changed) or "-")],
        ["version changed", escape("; ".join(f"{n}: {a} → {b}" for n, a, b in diff.versions_changed) or "-")],
    ])
    dataset = ""
    if diff.dataset is not None:
        dataset = html_table(["", "dataset version", "rows"], [
            [side, f"<code>{escape(diff.dataset[side]['id'])}</code>", escape(f"{diff.dataset[side]['rows']:,}")]
            for side in ("candidate", "production")
        ])
    spec = "<p>The spec text is unchanged.</p>" if not diff.spec_diff else (
        '<pre class="diff">' + "\n".join(_diff_line(line) for line in diff.spec_diff) + "</pre>")
    return (f'<section id="diff"><h2>{title}</h2><h3>Metrics</h3>{metrics}<h3>Features</h3>{features}'
            f"<h3>Training data</h3>{dataset}<h3>Spec</h3>{spec}</section>")


def _diff_line(line: str) -> str:
    css = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "")
    if line.startswith(("+++", "---")):
        css = "hunk"
    return f'<span class="{css}">{escape(line)}</span>' if css else escape(line)


def _tag(passed: bool) -> str:
    return '<span class="tag pass">pass</span>' if passed else '<span class="tag fail">fail</span>'


__all__ = ["render_review_html", "render_review_text"]
