"""Metrics on held-out predictions.

`compute_metrics` is what training records (binary and multiclass, by spec name). The functions below
it are the evaluation library's binary-classification and regression metrics: each checks its input
(raising `DataError` with a hint) and shares its implementation with the bootstrap (`_kernel`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from sklearn import metrics as skm

from assay.evaluation import _inputs
from assay.evaluation._kernel import Metric, build, checked_inputs
from assay.evaluation.cost import CostMatrix


def _classification(y: np.ndarray, proba: np.ndarray, name: str) -> float | None:
    labels = np.arange(proba.shape[1])
    binary = proba.shape[1] == 2
    if len(np.unique(y)) < 2 and name in ("roc_auc", "pr_auc"):
        return None  # undefined with one class present
    if name == "roc_auc":
        return float(skm.roc_auc_score(y, proba[:, 1]) if binary else skm.roc_auc_score(y, proba, multi_class="ovr", labels=labels))
    if name == "pr_auc":
        return float(skm.average_precision_score(y, proba[:, 1])) if binary else None
    if name == "log_loss":
        return float(skm.log_loss(y, proba, labels=labels))
    if name == "brier":
        return float(skm.brier_score_loss(y, proba[:, 1])) if binary else None
    predicted = proba.argmax(axis=1)
    if name == "accuracy":
        return float(skm.accuracy_score(y, predicted))
    if name == "f1":
        return float(skm.f1_score(y, predicted, average="binary" if binary else "macro", zero_division=0))
    raise ValueError(f"unknown classification metric {name!r}")


def _regression(y: np.ndarray, predicted: np.ndarray, name: str) -> float | None:
    if name == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y, predicted)))
    if name == "mae":
        return float(skm.mean_absolute_error(y, predicted))
    if name == "r2":
        return float(skm.r2_score(y, predicted)) if len(y) > 1 else None
    if name == "mape":
        return float(skm.mean_absolute_percentage_error(y, predicted))
    raise ValueError(f"unknown regression metric {name!r}")


def compute_metrics(task: str, y: np.ndarray, predictions: np.ndarray, names: Sequence[str]) -> dict[str, float | None]:
    """Each named metric on (y, predictions); None where a metric is undefined for this data
    (one class present, a constant target, an infinite percentage error)."""
    compute = _classification if task == "classification" else _regression
    values = {name: compute(y, predictions, name) for name in names}
    return {name: value if value is None or math.isfinite(value) else None for name, value in values.items()}


LOWER_IS_BETTER = frozenset({"log_loss", "brier", "rmse", "mae", "mape"})


def metric_value(metric: str | Metric, labels: ArrayLike, predictions: ArrayLike) -> float:
    """One metric (a name in METRIC_NAMES or a `Metric`) on all rows; NaN where undefined."""
    chosen = Metric.of(metric)
    y, f = checked_inputs(chosen, labels, predictions)
    return build(chosen, y, f).full()


# --- binary classification: labels 0/1, scores = positive-class probabilities ------------------


def roc_auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Probability that a random positive scores above a random negative (ties count half). Needs both classes."""
    return metric_value("roc_auc", labels, scores)


def pr_auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Average precision: precision at each distinct score, weighted by the recall gained there. Needs both classes."""
    return metric_value("pr_auc", labels, scores)


def log_loss(labels: ArrayLike, scores: ArrayLike) -> float:
    """Mean of -log(probability given to the true class); probabilities clipped to [eps, 1 - eps]."""
    return metric_value("log_loss", labels, scores)


def brier_score(labels: ArrayLike, scores: ArrayLike) -> float:
    """Mean squared difference between the probability and the 0/1 outcome."""
    return metric_value("brier", labels, scores)


def lift_at(labels: ArrayLike, scores: ArrayLike, *, fraction: float) -> float:
    """Positive rate among the `fraction` of rows with the highest scores, over the overall positive rate."""
    return metric_value(Metric("lift", fraction=fraction), labels, scores)


def expected_cost(labels: ArrayLike, scores: ArrayLike, *, threshold: float, costs: CostMatrix) -> float:
    """Mean cost per row of deciding positive iff score >= threshold (minus it is the value per row)."""
    return metric_value(Metric("expected_cost", threshold=threshold, costs=costs), labels, scores)


@dataclass(frozen=True, slots=True)
class ThresholdMetrics:
    """The confusion matrix of "positive iff score >= threshold", and what follows from it."""

    threshold: float
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    precision: float  # 0.0 when nothing is predicted positive
    recall: float | None  # None without positives
    f1: float | None
    accuracy: float
    predicted_positive_rate: float

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def classification_at(labels: ArrayLike, scores: ArrayLike, *, threshold: float) -> ThresholdMetrics:
    """Precision, recall, F1 and accuracy of the decision "positive iff score >= threshold"."""
    y, p = _inputs.binary_pair(labels, scores, both_classes=False)
    predicted = p >= threshold
    tp, fp = int((predicted & (y == 1)).sum()), int((predicted & (y == 0)).sum())
    fn, tn = int(((~predicted) & (y == 1)).sum()), int(((~predicted) & (y == 0)).sum())
    n = len(y)
    return ThresholdMetrics(
        threshold=float(threshold),
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        true_negatives=tn,
        precision=tp / (tp + fp) if tp + fp else 0.0,
        recall=tp / (tp + fn) if tp + fn else None,
        f1=2 * tp / (2 * tp + fp + fn) if tp + fn else None,
        accuracy=(tp + tn) / n,
        predicted_positive_rate=(tp + fp) / n,
    )


# --- regression -------------------------------------------------------------------------------------


def mae(targets: ArrayLike, predictions: ArrayLike) -> float:
    """Mean absolute error."""
    return metric_value("mae", targets, predictions)


def rmse(targets: ArrayLike, predictions: ArrayLike) -> float:
    """Square root of the mean squared error."""
    return metric_value("rmse", targets, predictions)


@dataclass(frozen=True, slots=True)
class MapeResult:
    """MAPE over the rows whose target is not zero; the zeros are counted, not hidden."""

    value: float | None  # None when every target is zero
    rows_used: int
    rows_excluded_zero_target: int

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def mape(targets: ArrayLike, predictions: ArrayLike) -> MapeResult:
    """Mean of |error| / |target| over rows with a non-zero target (a zero target has no percentage error)."""
    y, f = _inputs.regression_pair(targets, predictions)
    kept = int((y != 0).sum())
    value = build(Metric("mape"), y, f).full() if kept else None
    return MapeResult(value=value, rows_used=kept, rows_excluded_zero_target=len(y) - kept)


def pinball_loss(targets: ArrayLike, predictions: ArrayLike, *, quantile: float) -> float:
    """Quantile loss of a `quantile` forecast: q * (y - f) when under-forecast, (1 - q) * (f - y) when over."""
    return metric_value(Metric("pinball", quantile=quantile), targets, predictions)


def pinball_losses(targets: ArrayLike, predictions_by_quantile: Mapping[float, ArrayLike]) -> dict[float, float]:
    """Pinball loss of each quantile forecast, keyed by its quantile."""
    return {float(q): pinball_loss(targets, f, quantile=q) for q, f in sorted(predictions_by_quantile.items())}


__all__ = [
    "LOWER_IS_BETTER",
    "MapeResult",
    "ThresholdMetrics",
    "brier_score",
    "classification_at",
    "compute_metrics",
    "expected_cost",
    "lift_at",
    "log_loss",
    "mae",
    "mape",
    "metric_value",
    "pinball_loss",
    "pinball_losses",
    "pr_auc",
    "rmse",
    "roc_auc",
]
