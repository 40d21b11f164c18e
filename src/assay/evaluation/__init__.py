"""Evaluation: metrics, decision thresholds, bootstrap intervals and model comparison, calibration,
fairness across sensitive groups, and slices. Pure functions on numpy arrays; results are frozen
dataclasses with `to_dict()` for JSON."""

from __future__ import annotations

from assay.evaluation._kernel import METRIC_NAMES, Metric
from assay.evaluation.bootstrap import ConfidenceInterval, PairedComparison, bootstrap_ci, compare_models
from assay.evaluation.calibration import (
    BrierDecomposition,
    CalibrationSplit,
    Calibrator,
    Reliability,
    ReliabilityBin,
    brier_decomposition,
    carve_calibration_split,
    expected_calibration_error,
    fit_calibrator,
    reliability,
)
from assay.evaluation.cost import CostMatrix
from assay.evaluation.fairness import ColumnFairness, FairnessReport, GroupMetrics, assess_fairness
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
from assay.evaluation.slices import SliceReport, SliceResult, slice_metrics
from assay.evaluation.threshold import (
    ThresholdChoice,
    choose_threshold_for_cost,
    choose_threshold_for_precision,
    choose_threshold_for_recall,
)

__all__ = [
    "LOWER_IS_BETTER",
    "METRIC_NAMES",
    "BrierDecomposition",
    "CalibrationSplit",
    "Calibrator",
    "ColumnFairness",
    "ConfidenceInterval",
    "CostMatrix",
    "FairnessReport",
    "GroupMetrics",
    "MapeResult",
    "Metric",
    "PairedComparison",
    "Reliability",
    "ReliabilityBin",
    "SliceReport",
    "SliceResult",
    "ThresholdChoice",
    "ThresholdMetrics",
    "assess_fairness",
    "bootstrap_ci",
    "brier_decomposition",
    "brier_score",
    "carve_calibration_split",
    "choose_threshold_for_cost",
    "choose_threshold_for_precision",
    "choose_threshold_for_recall",
    "classification_at",
    "compare_models",
    "compute_metrics",
    "expected_calibration_error",
    "expected_cost",
    "fit_calibrator",
    "lift_at",
    "log_loss",
    "mae",
    "mape",
    "metric_value",
    "pinball_loss",
    "pinball_losses",
    "pr_auc",
    "reliability",
    "rmse",
    "roc_auc",
    "slice_metrics",
]
