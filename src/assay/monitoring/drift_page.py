"""The drift report as one self-contained HTML page: the verdict, the per-feature table, the
reference and current distributions of every feature on the reference's bins, and (for the
prediction log) the judged statistic per hour or day across the window. Inline SVG, no scripts,
no external resources; built with the same helpers as the data report and the model card."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from assay.data.profile import CategoricalProfile, ColumnProfile, NumericProfile
from assay.monitoring.drift import PREDICTION, FeatureDrift
from assay.monitoring.model_drift import DriftCheck
from assay.project.page import STYLE, escape, figure_svg, html_table, plot_text, small_figure, write_atomic

TOP_CATEGORY_BARS = 10
TIMELINE_LINES = 8  # the features with the largest values are drawn; the table has every feature
_REFERENCE, _CURRENT = "#7f8c8d", "#2962ff"


def render_drift_html(check: DriftCheck) -> str:
    report = check.report
    verdict = report.verdict
    box = "act" if verdict == "drift" else "ok"
    drifted = ", ".join(report.drifted)
    headline = {
        "drift": f"Drift in {escape(drifted)}.",
        "no drift": "No drift.",
        "not enough data": f"Not enough data: {report.rows:,} rows, fewer than the {report.policy.min_rows:,} "
                           "a verdict needs.",
    }[verdict]
    facts = [
        ("model", escape(check.model or "none (two files)")),
        ("reference", escape(check.reference)),
        ("current", escape(check.current)),
        ("rows", f"{report.rows:,} current, {report.reference_rows:,} reference"),
        ("rule", escape(f"an effect above its threshold and a test significant at FDR {report.policy.fdr:g} "
                        "(Benjamini-Hochberg across all tests)")),
    ]
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>Drift: {escape(check.model or check.current)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Drift of {escape(check.model or 'two files')}</h1>",
        f'<div class="{box}"><strong>{headline}</strong></div>',
        html_table(["", ""], [[escape(k), v] for k, v in facts]),
    ]
    if check.notes:
        parts.append("<ul>" + "".join(f"<li class=\"muted\">{escape(n)}</li>" for n in check.notes) + "</ul>")
    judged = [*report.features, *([report.prediction] if report.prediction is not None else [])]
    parts.append("<h2>Features</h2>")
    parts.append(html_table(["feature", "kind", "statistic", "value", "threshold", "p adj", "verdict", "why"],
                            [_row(f) for f in sorted(judged, key=_rank)]))
    if check.timeline:
        parts.append(f"<h2>Over time (per {check.bucket})</h2>")
        parts.append(f'<div class="plots">{_timeline_svgs(check)}</div>')
    parts.append("<h2>Distributions</h2><p class=\"muted\">Shares on the reference's bins (outer bins "
                 "open-ended) or categories; grey: reference, blue: current.</p>")
    svgs = []
    for index, feature in enumerate(sorted(judged, key=_rank)):
        ref, cur = _profiles(check, feature.name)
        if ref is not None and cur is not None:
            svgs.append(_distribution_svg(feature, ref, cur, salt=index))
    parts.append('<div class="plots">' + "".join(f'<div class="plot">{s}</div>' for s in svgs) + "</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_drift_html(check: DriftCheck, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, render_drift_html(check))
    return path


def _rank(feature: FeatureDrift) -> tuple[int, int, str]:
    return (not feature.drifted, feature.name != PREDICTION, feature.name)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _row(feature: FeatureDrift) -> list[str]:
    tag = {"drift": "drift-failed", "no drift": "", "not enough data": "warning"}[feature.verdict]
    verdict = f'<span class="tag {tag}">{escape(feature.verdict)}</span>'
    why = "; ".join([*feature.reasons, *feature.notes])
    return [escape(feature.name), escape(feature.kind), escape(feature.statistic), _number(feature.value),
            f"{feature.threshold:g}", _number(feature.p_adjusted), verdict, escape(why)]


def _profiles(check: DriftCheck, name: str) -> tuple[ColumnProfile | None, ColumnProfile | None]:
    report = check.report
    if name == PREDICTION:
        if report.reference_scores is None or report.current_scores is None:
            return None, None
        return next(iter(report.reference_scores.columns.values())), next(iter(report.current_scores.columns.values()))
    return report.reference.columns.get(name), report.current.columns.get(name)


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def _distribution_svg(feature: FeatureDrift, ref: ColumnProfile, cur: ColumnProfile, *, salt: int) -> str:
    figure, axes = small_figure()
    title = plot_text(feature.name, 40) + (" — drift" if feature.drifted else "")
    if isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile):
        positions = list(range(len(ref.histogram)))
        axes.bar([p - 0.2 for p in positions], _shares(ref.histogram), width=0.4, color=_REFERENCE, label="reference")
        axes.bar([p + 0.2 for p in positions], _shares(cur.histogram), width=0.4, color=_CURRENT, label="current")
        if ref.edges and len(ref.histogram) == len(ref.edges) + 1:
            step = max(1, len(ref.edges) // 5)
            ticks = list(range(0, len(ref.edges), step))
            axes.set_xticks([i + 0.5 for i in ticks], [f"{ref.edges[i]:.4g}" for i in ticks], rotation=30, ha="right")
        axes.set_ylabel("share of values", fontsize=7)
    elif isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile):
        labels = [*ref.categories, "(unseen or rare)"]
        ref_shares = _shares([*ref.counts, ref.other_count])
        cur_shares = _shares([*cur.counts, cur.other_count])
        order = sorted(range(len(labels)), key=lambda i: -max(ref_shares[i], cur_shares[i]))[:TOP_CATEGORY_BARS][::-1]
        positions = list(range(len(order)))
        axes.barh([p + 0.2 for p in positions], [ref_shares[i] for i in order], height=0.4, color=_REFERENCE)
        axes.barh([p - 0.2 for p in positions], [cur_shares[i] for i in order], height=0.4, color=_CURRENT)
        axes.set_yticks(positions, [plot_text(labels[i]) for i in order])
        axes.set_xlabel("share of values", fontsize=7)
    axes.set_title(title, fontsize=9)
    return figure_svg(figure, salt)


def _timeline_svgs(check: DriftCheck) -> str:
    """One plot per judged statistic: its value per bucket for the features that reach the highest."""
    report = check.report
    judged = [*report.features, *([report.prediction] if report.prediction is not None else [])]
    by_statistic: dict[tuple[str, float], list[FeatureDrift]] = {}
    for feature in judged:
        by_statistic.setdefault((feature.statistic, feature.threshold), []).append(feature)
    svgs = []
    starts = [p.start for p in check.timeline]
    fmt = "%m-%d %H:00" if check.bucket == "hour" else "%Y-%m-%d"
    for index, ((statistic, threshold), features) in enumerate(sorted(by_statistic.items())):
        def peak(feature: FeatureDrift) -> float:
            return max((p.values.get(feature.name) or 0.0 for p in check.timeline), default=0.0)

        shown = sorted(features, key=lambda f: (-peak(f), f.name))[:TIMELINE_LINES]
        figure, axes = small_figure(height=2.8)
        for feature in shown:
            values = [p.values.get(feature.name) for p in check.timeline]
            axes.plot(range(len(starts)), [float("nan") if v is None else v for v in values], marker="o",
                      markersize=2, linewidth=1, label=plot_text(feature.name, 18))
        axes.axhline(threshold, color="#c0392b", linestyle="--", linewidth=1)
        step = max(1, len(starts) // 6)
        axes.set_xticks(list(range(0, len(starts), step)), [starts[i].strftime(fmt) for i in range(0, len(starts), step)],
                        rotation=30, ha="right")
        axes.set_title(f"{statistic} per {check.bucket} (threshold {threshold:g})", fontsize=9)
        axes.legend(fontsize=6, frameon=False)
        svgs.append(f'<div class="plot">{figure_svg(figure, 1000 + index)}</div>')
    return "".join(svgs)


__all__ = ["render_drift_html", "write_drift_html"]
