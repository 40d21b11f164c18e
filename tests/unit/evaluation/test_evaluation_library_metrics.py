"""The evaluation library's metric functions: agree with scikit-learn, known values by hand, clear errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from assay.errors import DataError
from assay.evaluation import (
    METRIC_NAMES,
    CostMatrix,
    Metric,
    brier_score,
    classification_at,
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

RNG = np.random.default_rng(7)
LABELS = RNG.integers(0, 2, 500)
SCORES = np.round(np.clip(0.25 * LABELS + 0.75 * RNG.random(500), 0, 1), 2)  # rounded: many ties


def test_classification_metrics_agree_with_sklearn_with_ties() -> None:
    assert roc_auc(LABELS, SCORES) == pytest.approx(skm.roc_auc_score(LABELS, SCORES), abs=1e-12)
    assert pr_auc(LABELS, SCORES) == pytest.approx(skm.average_precision_score(LABELS, SCORES), abs=1e-12)
    assert log_loss(LABELS, SCORES) == pytest.approx(skm.log_loss(LABELS, SCORES), abs=1e-12)
    assert brier_score(LABELS, SCORES) == pytest.approx(skm.brier_score_loss(LABELS, SCORES), abs=1e-12)


def test_metrics_at_a_threshold_agree_with_sklearn() -> None:
    got = classification_at(LABELS, SCORES, threshold=0.6)
    predicted = SCORES >= 0.6
    assert got.precision == pytest.approx(skm.precision_score(LABELS, predicted))
    assert got.recall == pytest.approx(skm.recall_score(LABELS, predicted))
    assert got.f1 == pytest.approx(skm.f1_score(LABELS, predicted))
    assert got.accuracy == pytest.approx(skm.accuracy_score(LABELS, predicted))
    for name, expected in (("f1", got.f1), ("precision", got.precision), ("recall", got.recall), ("accuracy", got.accuracy)):
        assert metric_value(Metric(name, threshold=0.6), LABELS, SCORES) == pytest.approx(expected)
    json.dumps(got.to_dict())


def test_precision_is_zero_when_nothing_is_predicted_positive() -> None:
    got = classification_at([0, 1, 1], [0.1, 0.2, 0.3], threshold=0.9)
    assert (got.precision, got.recall, got.predicted_positive_rate) == (0.0, 0.0, 0.0)


def test_expected_cost_by_hand() -> None:
    labels, scores = [1, 1, 0, 0], [0.9, 0.2, 0.7, 0.1]
    # At 0.5: one TP, one FN, one FP, one TN.
    costs = CostMatrix(false_positive=1.0, false_negative=10.0, true_positive=-2.0)
    assert expected_cost(labels, scores, threshold=0.5, costs=costs) == pytest.approx((-2 + 10 + 1 + 0) / 4)
    values = CostMatrix.from_values(true_positive=2.0, true_negative=0.0, false_positive=-1.0, false_negative=-10.0)
    assert values == costs
    assert metric_value(Metric("value", threshold=0.5, costs=values), labels, scores) == pytest.approx(-9 / 4)


def test_lift_at_top_fraction_by_hand() -> None:
    labels = [1, 1, 0, 1, 0, 0, 0, 0, 0, 0]
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    # Top 20%: 2 rows, both positive: rate 1.0 over a base rate of 0.3.
    assert lift_at(labels, scores, fraction=0.2) == pytest.approx(1 / 0.3)
    # Top 30%: 2 of 3 positive.
    assert lift_at(labels, scores, fraction=0.3) == pytest.approx((2 / 3) / 0.3)
    assert lift_at(labels, scores, fraction=1.0) == pytest.approx(1.0)


def test_lift_shares_the_positive_rate_of_ties_at_the_cut() -> None:
    labels, scores = [1, 0, 1, 0], [0.9, 0.5, 0.5, 0.1]
    # Top 50%: the 0.9 row, and half of the tied 0.5 pair (one positive of two): 1.5 positives of 2.
    assert lift_at(labels, scores, fraction=0.5) == pytest.approx((1.5 / 2) / 0.5)


def test_regression_metrics_agree_with_sklearn() -> None:
    y = RNG.normal(10, 3, 300)
    f = y + RNG.normal(0, 1, 300)
    assert mae(y, f) == pytest.approx(skm.mean_absolute_error(y, f))
    assert rmse(y, f) == pytest.approx(math.sqrt(skm.mean_squared_error(y, f)))
    assert mape(y, f).value == pytest.approx(skm.mean_absolute_percentage_error(y, f))
    for q in (0.1, 0.5, 0.9):
        assert pinball_loss(y, f, quantile=q) == pytest.approx(skm.mean_pinball_loss(y, f, alpha=q))
    assert pinball_losses(y, {0.9: f + 1, 0.1: f - 1}) == pytest.approx(
        {0.1: skm.mean_pinball_loss(y, f - 1, alpha=0.1), 0.9: skm.mean_pinball_loss(y, f + 1, alpha=0.9)}
    )


def test_mape_reports_the_zero_targets_it_excluded() -> None:
    got = mape([0.0, 2.0, 4.0, 0.0], [1.0, 1.0, 5.0, 0.0])
    assert got.value == pytest.approx((0.5 + 0.25) / 2)
    assert (got.rows_used, got.rows_excluded_zero_target) == (2, 2)
    assert mape([0.0], [1.0]).to_dict() == {"value": None, "rows_used": 0, "rows_excluded_zero_target": 1}


def test_mismatched_lengths_are_refused_with_both_lengths() -> None:
    with pytest.raises(DataError, match="labels has 3, scores has 2") as caught:
        roc_auc([0, 1, 1], [0.1, 0.2])
    assert "aligned" in caught.value.hint


def test_a_single_class_is_refused_where_the_metric_needs_both() -> None:
    with pytest.raises(DataError, match="single class") as caught:
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    assert "both classes" in caught.value.hint
    assert log_loss([1, 1], [0.9, 0.8]) == pytest.approx(-np.log([0.9, 0.8]).mean())


@pytest.mark.parametrize("bad", [[0.2, 1.5], [0.2, -0.1], [0.2, float("nan")]])
def test_probabilities_outside_the_unit_interval_are_refused(bad: list[float]) -> None:
    with pytest.raises(DataError, match=r"probabilities in \[0, 1\]") as caught:
        brier_score([0, 1], bad)
    assert "predict_proba" in caught.value.hint


def test_labels_must_be_binary() -> None:
    with pytest.raises(DataError, match="0/1"):
        roc_auc([0, 1, 2], [0.1, 0.2, 0.3])


def test_unknown_metric_and_missing_costs_are_refused() -> None:
    with pytest.raises(DataError, match="unknown metric 'auc'"):
        Metric("auc")
    with pytest.raises(DataError, match="needs a cost matrix"):
        Metric("expected_cost")
    assert {"roc_auc", "pr_auc", "log_loss", "brier", "mae", "rmse", "mape", "pinball", "lift"} <= METRIC_NAMES


def test_metric_labels_carry_their_parameter() -> None:
    assert Metric("f1", threshold=0.3).label == "f1@0.3"
    assert Metric("pinball", quantile=0.9).label == "pinball@0.9"
    assert Metric("roc_auc").label == "roc_auc"
    assert Metric("log_loss").prefers_higher() is False and Metric("roc_auc").prefers_higher() is True
