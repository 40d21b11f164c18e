"""Evaluation: metrics, decision thresholds, bootstrap intervals and model comparison. Pure functions on numpy arrays; results are frozen
dataclasses with `to_dict()` for JSON."""

from __future__ import annotations

from assay.evaluation._kernel import METRIC_NAMES, Metric
from assay.evaluation.bootstrap import ConfidenceInterval, PairedComparison, bootstrap_ci, compare_models
from assay.evaluation.cost import CostMatrix
from assay.evaluation.metrics import (
    LOWER_IS_BETTER,
    MapeResult,
    ThresholdMetrics,
    brier_score,
    classification_at,
    compute_metrics,
    expected_cost,
    lift_at,
    log_loss,
    mae,
    mape,
    metric_value,
    pinball_loss,
    pinball_losses,
    pr_auc,
    rmse,
    roc_auc,
)
from assay.evaluation.threshold import (
    ThresholdChoice,
    choose_threshold_for_cost,
    choose_threshold_for_precision,
    choose_threshold_for_recall,
)

__all__ = [
    "LOWER_IS_BETTER",
    "METRIC_NAMES",
    "ConfidenceInterval",
    "CostMatrix",
    "MapeResult",
    "Metric",
    "PairedComparison",
    "ThresholdChoice",
    "ThresholdMetrics",
    "bootstrap_ci",
    "brier_score",
    "choose_threshold_for_cost",
    "choose_threshold_for_precision",
    "choose_threshold_for_recall",
    "classification_at",
    "compare_models",
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
