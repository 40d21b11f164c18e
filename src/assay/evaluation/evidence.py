"""The evidence a reviewer looks at besides the headline metrics: curves, calibration, score
distributions, fairness across sensitive groups and slices. Computed once on the test rows when a
model is evaluated, stored with the run, and drawn on the model card."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from assay.evaluation._kernel import Metric
from assay.evaluation.calibration import brier_decomposition, reliability
from assay.evaluation.fairness import assess_fairness
from assay.evaluation.metrics import metric_value
from assay.evaluation.slices import slice_metrics, slice_values

CURVE_POINTS = 200  # curves are thinned to about this many points: enough to draw, small to store
SCORE_BINS = 20
IMPORTANCE_ROWS = 2_000  # permutation importance on at most this many test rows (seeded sample)
MAX_GROUPS = 10  # a numeric sensitive column with more distinct values is judged in quartile bins (e.g. age)


def _thin(*series: np.ndarray) -> list[list[float]]:
    """Every series at the same ~CURVE_POINTS indices, first and last kept."""
    size = len(series[0])
    keep = np.unique(np.linspace(0, size - 1, min(size, CURVE_POINTS)).round().astype(int)) if size else np.array([], int)
    return [[float(v) for v in s[keep]] for s in series]


def curves(labels: np.ndarray, scores: np.ndarray) -> dict[str, Any] | None:
    """ROC and precision-recall curves of a binary classifier (None with a single class)."""
    if len(np.unique(labels)) < 2:
        return None
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    roc_fpr, roc_tpr = _thin(fpr, tpr)
    pr_recall, pr_precision = _thin(recall[::-1], precision[::-1])
    return {
        "roc": {"fpr": roc_fpr, "tpr": roc_tpr},
        "pr": {"recall": pr_recall, "precision": pr_precision, "base_rate": float(labels.mean())},
    }


def calibration(labels: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    found = reliability(labels, scores, n_bins=10)
    return {
        "ece": found.expected_calibration_error,
        "bins": [
            {"mean_predicted": b.mean_predicted, "observed_rate": b.observed_rate, "count": b.count}
            for b in found.bins
        ],
        "brier": brier_decomposition(labels, scores, n_bins=10).to_dict(),
        "calibrator": None,
    }


def score_distribution(labels: np.ndarray, predictions: np.ndarray, *, binary: bool) -> dict[str, Any]:
    """Histograms of the scores by true class (binary), or of the residuals (regression)."""
    if binary:
        edges = np.linspace(0.0, 1.0, SCORE_BINS + 1)
        positive = np.histogram(predictions[labels == 1], bins=edges)[0]
        negative = np.histogram(predictions[labels == 0], bins=edges)[0]
        return {"edges": edges.tolist(), "positive": positive.tolist(), "negative": negative.tolist()}
    residual = np.asarray(labels, dtype=np.float64) - np.asarray(predictions, dtype=np.float64)
    finite = residual[np.isfinite(residual)]
    counts, edges = np.histogram(finite, bins=30) if finite.size else (np.zeros(0, int), np.zeros(0))
    return {"edges": edges.tolist(), "residual": counts.tolist()}


def fairness(
    labels: np.ndarray, scores: np.ndarray, sensitive: Mapping[str, np.ndarray], *, threshold: float,
    min_group_size: int, min_positives: int,
) -> dict[str, Any]:
    """Per sensitive column: every group's metrics at the decision threshold, and the gaps."""
    grouped = {name: _groups(name, values) for name, values in sensitive.items()}
    report = assess_fairness(labels, scores, grouped, threshold=threshold, min_group_size=min_group_size,
                             min_positives=min_positives)
    return {
        column.column: {
            "groups": [
                {
                    "group": g.group, "count": g.count, "positives": g.positives, "selection_rate": g.selection_rate,
                    "tpr": g.true_positive_rate, "fpr": g.false_positive_rate, "precision": g.precision,
                    "mean_score": g.mean_score, "observed_rate": g.observed_rate, "small": g.small,
                }
                for g in column.groups
            ],
            "demographic_parity_difference": column.demographic_parity_difference,
            "demographic_parity_ratio": column.demographic_parity_ratio,
            "equalized_odds_difference": column.equalized_odds_difference,
            "small_groups": list(column.small_groups),
            "threshold": threshold,
        }
        for column in report.columns
    }


def _groups(name: str, values: np.ndarray) -> np.ndarray:
    """The groups of a sensitive column: its values, or quartile bins of a many-valued number."""
    array = np.asarray(values)
    if array.dtype.kind in "iuf" and len(np.unique(array[~np.isnan(array.astype(np.float64))])) > MAX_GROUPS:
        return slice_values(array, n_bins=4, what=f"sensitive column {name!r}")[0]
    return array


def slices(metric: str | Metric, labels: np.ndarray, predictions: np.ndarray, columns: Mapping[str, np.ndarray], *,
           min_slice_size: int) -> dict[str, Any]:
    """The metric on every slice of every slice column, and the worst slices."""
    report = slice_metrics(metric, labels, predictions, columns, min_slice_size=min_slice_size)
    by_column: dict[str, Any] = {}
    for result in report.slices:
        entry = by_column.setdefault(result.column, {"metric": report.metric, "rows": []})
        entry["rows"].append({"slice": result.slice, "count": result.count, "value": result.value, "small": result.small})
    by_column["worst"] = [
        {"column": r.column, "slice": r.slice, "count": r.count, "value": r.value} for r in report.worst
    ]
    return by_column


def permutation_importance(
    predict: Callable[[Any], np.ndarray],
    rows: Any,
    labels: np.ndarray,
    *,
    metric: str,
    seed: int,
    max_rows: int = IMPORTANCE_ROWS,
) -> list[dict[str, Any]]:
    """How much the metric drops when one input column is shuffled (the others kept), per column,
    largest first. `rows` is the model's input frame (pandas), `predict` maps it to predictions
    (a binary classifier's positive-class probability, or numbers). Seeded; at most `max_rows` rows."""
    chosen = Metric.of(metric)
    rng = np.random.default_rng(seed)
    if len(rows) > max_rows:
        keep = np.sort(rng.choice(len(rows), size=max_rows, replace=False))
        rows, labels = rows.iloc[keep].reset_index(drop=True), labels[keep]
    base = metric_value(chosen, labels, predict(rows))
    sign = 1.0 if chosen.prefers_higher() else -1.0
    found = []
    for column in rows.columns:
        shuffled = rows.copy()
        shuffled[column] = rows[column].to_numpy()[rng.permutation(len(rows))]
        drop = sign * (base - metric_value(chosen, labels, predict(shuffled)))
        found.append({"feature": str(column), "drop": float(drop)})
    return sorted(found, key=lambda item: (-item["drop"], item["feature"]))


__all__ = ["calibration", "curves", "fairness", "permutation_importance", "score_distribution", "slices"]
