"""Fairness: a tiny example checked by hand, agreement with fairlearn computed directly, small groups flagged."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    selection_rate,
)

from assay.errors import DataError
from assay.evaluation import assess_fairness

# Group a: labels 1 1 0 0, scores .9 .4 .6 .1 -> decisions 1 0 1 0.
# Group b: labels 1 1 1 0, scores .8 .7 .6 .3 -> decisions 1 1 1 0.
LABELS = [1, 1, 0, 0, 1, 1, 1, 0]
SCORES = [0.9, 0.4, 0.6, 0.1, 0.8, 0.7, 0.6, 0.3]
GROUPS = ["a"] * 4 + ["b"] * 4


def test_tiny_example_by_hand() -> None:
    report = assess_fairness(LABELS, SCORES, {"sex": GROUPS}, threshold=0.5, min_group_size=1, min_positives=1)
    (column,) = report.columns
    a, b = column.groups
    assert (a.group, a.count, a.positives) == ("a", 4, 2)
    assert (a.selection_rate, a.true_positive_rate, a.false_positive_rate, a.precision) == pytest.approx((0.5, 0.5, 0.5, 0.5))
    assert (a.mean_score, a.observed_rate) == pytest.approx((0.5, 0.5))
    assert (b.selection_rate, b.true_positive_rate, b.false_positive_rate, b.precision) == pytest.approx((0.75, 1.0, 0.0, 1.0))
    assert (b.mean_score, b.observed_rate) == pytest.approx((0.6, 0.75))
    assert column.demographic_parity_difference == pytest.approx(0.25)  # 0.75 - 0.5
    assert column.demographic_parity_ratio == pytest.approx(2 / 3)  # 0.5 / 0.75
    assert column.equalized_odds_difference == pytest.approx(0.5)  # max(|0.5 - 1|, |0.5 - 0|)
    assert column.small_groups == ()
    json.dumps(report.to_dict())


def test_matches_fairlearn_computed_directly() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    groups = rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2])
    labels = rng.integers(0, 2, n)
    scores = np.clip(0.2 * labels + 0.6 * rng.random(n) + 0.1 * (groups == "z"), 0, 1)
    report = assess_fairness(labels, scores, {"region": groups}, threshold=0.45)
    column = report.columns[0]
    decided = (scores >= 0.45).astype(int)
    assert column.demographic_parity_difference == pytest.approx(demographic_parity_difference(labels, decided, sensitive_features=groups))
    assert column.demographic_parity_ratio == pytest.approx(demographic_parity_ratio(labels, decided, sensitive_features=groups))
    assert column.equalized_odds_difference == pytest.approx(equalized_odds_difference(labels, decided, sensitive_features=groups))
    rates = MetricFrame(metrics=selection_rate, y_true=labels, y_pred=decided, sensitive_features=groups).by_group
    assert [g.selection_rate for g in column.groups] == pytest.approx([rates[k] for k in ("x", "y", "z")])


def test_small_groups_are_flagged_and_left_out_of_the_summary() -> None:
    rng = np.random.default_rng(4)
    groups = np.array(["big"] * 400 + ["tiny"] * 20 + ["rare_positive"] * 100, dtype=object)
    labels = rng.integers(0, 2, 520)
    labels[420:] = 0
    labels[420:423] = 1  # 3 positives among 100 rows
    scores = rng.random(520)
    scores[400:420] = 0.99  # the tiny group is all selected: it would dominate the gaps
    groups[:10] = None  # missing values are their own group
    report = assess_fairness(labels, scores, {"g": groups}, threshold=0.5)
    column = report.columns[0]
    flags = {g.group: g.small for g in column.groups}
    assert flags == {"(missing)": True, "big": False, "rare_positive": True, "tiny": True}
    assert column.small_groups == ("(missing)", "rare_positive", "tiny")
    # Only one group is large enough: no gap can be measured.
    assert column.demographic_parity_difference is None and column.rows_in_summary == 390

    report = assess_fairness(labels, scores, {"g": groups}, threshold=0.5, min_positives=3)
    column = report.columns[0]
    kept = np.isin(groups, ["big", "rare_positive"])
    decided = (scores >= 0.5).astype(int)
    expected = demographic_parity_difference(labels[kept], decided[kept], sensitive_features=groups[kept])
    assert column.demographic_parity_difference == pytest.approx(expected)
    assert column.small_groups == ("(missing)", "tiny")


def test_numeric_sensitive_values_with_nan_become_a_missing_group() -> None:
    values = np.array([1.0, 1.0, np.nan, 2.0])
    report = assess_fairness([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.2], {"band": values}, threshold=0.5, min_group_size=1, min_positives=0)
    assert [g.group for g in report.columns[0].groups] == ["(missing)", "1.0", "2.0"]


def test_bad_sensitive_input_is_refused() -> None:
    with pytest.raises(DataError, match="no sensitive columns"):
        assess_fairness(LABELS, SCORES, {}, threshold=0.5)
    with pytest.raises(DataError, match="row counts differ"):
        assess_fairness(LABELS, SCORES, {"sex": GROUPS[:-1]}, threshold=0.5)
