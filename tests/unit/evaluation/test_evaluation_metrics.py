"""Metrics agree with scikit-learn and are None where undefined."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

import assay.evaluation
from assay.evaluation import LOWER_IS_BETTER, compute_metrics
from assay.spec.model import CLASSIFICATION_METRICS, REGRESSION_METRICS

Y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
P1 = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.7])
PROBA = np.column_stack([1 - P1, P1])


def test_public_surface_is_pinned() -> None:
    assert sorted(assay.evaluation.__all__) == sorted(
        [
            "LOWER_IS_BETTER", "METRIC_NAMES", "BrierDecomposition", "CalibrationSplit", "Calibrator", "ColumnFairness",
            "ConfidenceInterval", "CostMatrix", "FairnessReport", "GroupMetrics", "MapeResult", "Metric",
            "PairedComparison", "Reliability", "ReliabilityBin", "SliceReport", "SliceResult", "ThresholdChoice",
            "ThresholdMetrics", "assess_fairness", "bootstrap_ci", "brier_decomposition", "brier_score",
            "carve_calibration_split", "choose_threshold_for_cost", "choose_threshold_for_precision",
            "choose_threshold_for_recall", "classification_at", "compare_models", "compute_metrics",
            "expected_calibration_error", "expected_cost", "fit_calibrator", "lift_at", "log_loss", "mae", "mape",
            "metric_value", "pinball_loss", "pinball_losses", "pr_auc", "reliability", "rmse", "roc_auc",
            "slice_metrics",
        ]
    )
    for name in assay.evaluation.__all__:
        assert getattr(assay.evaluation, name) is not None, name


def test_binary_metrics_agree_with_sklearn() -> None:
    got = compute_metrics("classification", Y, PROBA, CLASSIFICATION_METRICS)
    predicted = (P1 > 0.5).astype(int)
    expected = {
        "roc_auc": skm.roc_auc_score(Y, P1),
        "pr_auc": skm.average_precision_score(Y, P1),
        "log_loss": skm.log_loss(Y, PROBA),
        "brier": skm.brier_score_loss(Y, P1),
        "accuracy": skm.accuracy_score(Y, predicted),
        "f1": skm.f1_score(Y, predicted),
    }
    assert got == pytest.approx(expected, abs=1e-12)
    assert all(type(v) is float for v in got.values())


def test_binary_metrics_known_values() -> None:
    got = compute_metrics("classification", Y, PROBA, ["roc_auc", "accuracy"])
    assert got["roc_auc"] == pytest.approx(14 / 16)  # 14 of 16 positive/negative pairs ordered right
    assert got["accuracy"] == pytest.approx(6 / 8)


def test_auc_is_none_with_one_class() -> None:
    y = np.zeros(4, dtype=int)
    proba = np.column_stack([np.full(4, 0.7), np.full(4, 0.3)])
    got = compute_metrics("classification", y, proba, CLASSIFICATION_METRICS)
    assert got["roc_auc"] is None
    assert got["pr_auc"] is None
    assert got["log_loss"] == pytest.approx(-math.log(0.7))
    assert got["accuracy"] == 1.0
    assert got["f1"] == 0.0


def test_multiclass_metrics() -> None:
    y = np.array([0, 1, 2, 2, 1, 0])
    proba = np.array(
        [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3], [0.2, 0.5, 0.3], [0.5, 0.3, 0.2]]
    )
    got = compute_metrics("classification", y, proba, CLASSIFICATION_METRICS)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
    assert got["pr_auc"] is None and got["brier"] is None
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert got["f1"] == pytest.approx(skm.f1_score(y, proba.argmax(axis=1), average="macro"))


def test_log_loss_when_a_class_is_absent_from_the_split() -> None:
    y = np.array([0, 0, 1])
    proba = np.array([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.7, 0.1]])
    got = compute_metrics("classification", y, proba, ["log_loss"])
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=[0, 1, 2]))


def test_regression_metrics_agree_with_sklearn() -> None:
    y = np.array([3.0, -0.5, 2.0, 7.0, 4.2])
    predicted = np.array([2.5, 0.0, 2.0, 8.0, 4.0])
    got = compute_metrics("regression", y, predicted, REGRESSION_METRICS)
    assert got == pytest.approx(
        {
            "rmse": math.sqrt(skm.mean_squared_error(y, predicted)),
            "mae": skm.mean_absolute_error(y, predicted),
            "r2": skm.r2_score(y, predicted),
            "mape": skm.mean_absolute_percentage_error(y, predicted),
        }
    )
    assert got["mae"] == pytest.approx((0.5 + 0.5 + 0 + 1 + 0.2) / 5)


def test_r2_is_none_for_a_single_row() -> None:
    assert compute_metrics("regression", np.array([1.0]), np.array([2.0]), ["r2", "rmse"]) == {"r2": None, "rmse": 1.0}


def test_unknown_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown classification metric 'nope'"):
        compute_metrics("classification", Y, PROBA, ["nope"])
    with pytest.raises(ValueError, match="unknown regression metric 'roc_auc'"):
        compute_metrics("regression", Y.astype(float), P1, ["roc_auc"])


def test_lower_is_better_covers_the_loss_metrics() -> None:
    assert LOWER_IS_BETTER == {"log_loss", "brier", "rmse", "mae", "mape"}
    assert LOWER_IS_BETTER <= set(CLASSIFICATION_METRICS) | set(REGRESSION_METRICS)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_non_finite_metrics_are_recorded_as_undefined() -> None:
    # Squared errors of 1e200 overflow to inf: stored as null, since JSON has no infinity.
    values = compute_metrics("regression", np.array([0.0, 0.0]), np.array([1e200, 1e200]), ["rmse", "mae"])
    assert values == {"rmse": None, "mae": 1e200}
