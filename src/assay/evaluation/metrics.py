"""Metrics on held-out predictions. Issue-level depth (CIs, slices, calibration) builds on these."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn import metrics as skm


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

__all__ = ["LOWER_IS_BETTER", "compute_metrics"]
