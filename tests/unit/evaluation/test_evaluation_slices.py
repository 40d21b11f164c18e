"""Slices: per-value and per-quantile-bin metrics, worst slices by the metric's direction, small slices flagged."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, roc_auc_score

from assay.evaluation import slice_metrics


def _data(n: int = 2000) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(9)
    target = rng.normal(size=n)
    region = rng.choice(["north", "south", "east"], n)
    noise = np.where(region == "east", 2.0, 0.5)  # the model is worst in the east
    predicted = target + rng.normal(size=n) * noise
    age = rng.uniform(18, 80, n)
    age[:12] = np.nan
    region = region.astype(object)
    region[20:25] = "west"  # a 5-row slice
    return target, predicted, {"region": region, "age": age}


def test_slices_by_value_and_by_quantile_bin() -> None:
    target, predicted, columns = _data()
    report = slice_metrics("mae", target, predicted, columns, n_bins=4)
    age = [s for s in report.slices if s.column == "age"]
    assert [s.slice for s in age][-1] == "(missing)" and age[-1].count == 12
    assert [s.count for s in age[:-1]] == pytest.approx([497] * 4, abs=1)
    region = {s.slice: s for s in report.slices if s.column == "region"}
    rows = columns["region"] == "east"
    assert region["east"].value == pytest.approx(mean_absolute_error(target[rows], predicted[rows]))
    json.dumps(report.to_dict())


def test_worst_slices_follow_the_metric_direction_and_skip_small_ones() -> None:
    target, predicted, columns = _data()
    report = slice_metrics("mae", target, predicted, columns, worst_k=2)
    assert report.worst[0].slice == "east"  # highest MAE first: lower is better
    assert all(not s.small for s in report.worst)
    flagged = {s.slice for s in report.slices if s.small}
    assert flagged == {"west", "(missing)"}


def test_higher_is_better_metrics_rank_the_lowest_first_and_undefined_slices_have_no_value() -> None:
    rng = np.random.default_rng(10)
    labels = rng.integers(0, 2, 600)
    segment = rng.choice(["a", "b"], 600).astype(object)
    scores = np.where(segment == "a", 0.4 * labels + 0.6 * rng.random(600), rng.random(600))
    segment[:40] = "one_class"
    labels[:40] = 1
    report = slice_metrics("roc_auc", labels, scores, {"segment": segment}, n_resamples=200, seed=1)
    by_name = {s.slice: s for s in report.slices}
    assert by_name["one_class"].value is None
    rows = segment == "b"
    assert by_name["b"].value == pytest.approx(roc_auc_score(labels[rows], scores[rows]))
    assert report.worst[0].slice == "b"
    assert by_name["b"].low < by_name["b"].value < by_name["b"].high
