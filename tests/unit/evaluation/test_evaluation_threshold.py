"""Threshold choices equal a brute-force search over every candidate threshold."""

from __future__ import annotations

import json

import numpy as np
import pytest

from assay.errors import DataError
from assay.evaluation import (
    CostMatrix,
    choose_threshold_for_cost,
    choose_threshold_for_precision,
    choose_threshold_for_recall,
    classification_at,
)


def _datasets(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    out = []
    for trial in range(count):
        n = int(rng.integers(2, 120))
        labels = rng.integers(0, 2, n)
        labels[:2] = [0, 1]  # both classes
        scores = np.clip(0.3 * labels + 0.7 * rng.random(n), 0, 1)
        if trial % 2:
            scores = np.round(scores, 1)  # many ties
        out.append((labels, scores))
    return out


def _brute_force(labels: np.ndarray, scores: np.ndarray) -> list[tuple[float, int, int, int, int]]:
    """(threshold, tp, fp, fn, tn) for each distinct score and for one above them all, by direct counting."""
    rows = []
    for threshold in [*np.unique(scores), np.nextafter(scores.max(), np.inf)]:
        predicted = scores >= threshold
        rows.append(
            (
                float(threshold),
                int((predicted & (labels == 1)).sum()),
                int((predicted & (labels == 0)).sum()),
                int((~predicted & (labels == 1)).sum()),
                int((~predicted & (labels == 0)).sum()),
            )
        )
    return rows


@pytest.mark.parametrize(("labels", "scores"), _datasets(40))
def test_min_cost_threshold_is_the_brute_force_minimum(labels: np.ndarray, scores: np.ndarray) -> None:
    rng = np.random.default_rng(len(labels))
    costs = CostMatrix(*rng.uniform(-5, 10, 4))
    table = _brute_force(labels, scores)
    cell_costs = [
        (tp * costs.true_positive + fp * costs.false_positive + fn * costs.false_negative + tn * costs.true_negative) / len(labels)
        for _, tp, fp, fn, tn in table
    ]
    best = min(cell_costs)
    chosen = choose_threshold_for_cost(labels, scores, costs=costs)
    assert chosen.expected_cost_per_row == pytest.approx(best, abs=1e-9)
    # Ties go to the highest threshold among the minimisers.
    assert chosen.threshold == max(t for (t, *_), c in zip(table, cell_costs, strict=True) if c <= best + 1e-9)
    at = classification_at(labels, scores, threshold=chosen.threshold)
    assert (chosen.precision, chosen.recall) == pytest.approx((at.precision, at.recall))


@pytest.mark.parametrize(("labels", "scores"), _datasets(40))
@pytest.mark.parametrize("target", [0.5, 0.7, 0.9])
def test_target_precision_and_recall_match_brute_force(labels: np.ndarray, scores: np.ndarray, target: float) -> None:
    table = [(t, tp, fp, fn) for t, tp, fp, fn, _ in _brute_force(labels, scores) if tp + fp > 0]
    measured = [(t, tp / (tp + fp), tp / (tp + fn)) for t, tp, fp, fn in table]

    by_precision = choose_threshold_for_precision(labels, scores, target=target)
    feasible = [(recall, precision, t) for t, precision, recall in measured if precision >= target]
    if feasible:
        assert by_precision.reached
        assert by_precision.threshold == max(feasible)[2]
    else:
        assert not by_precision.reached and "no threshold reaches precision" in by_precision.note
        assert by_precision.threshold == max((p, r, t) for t, p, r in measured)[2]

    by_recall = choose_threshold_for_recall(labels, scores, target=target)
    best = max((precision, recall, t) for t, precision, recall in measured if recall >= target)
    assert by_recall.reached and by_recall.threshold == best[2]
    assert (by_recall.precision, by_recall.recall) == pytest.approx(best[:2])


def test_value_matrix_gives_value_per_row_and_json() -> None:
    labels, scores = [1, 0, 1, 0, 0], [0.9, 0.8, 0.6, 0.3, 0.1]
    values = CostMatrix.from_values(true_positive=100.0, true_negative=0.0, false_positive=-20.0, false_negative=-100.0)
    chosen = choose_threshold_for_cost(labels, scores, costs=values)
    # Flag everything down to 0.6: two TPs (+200), one FP (-20), no FN: value 180 over 5 rows.
    assert chosen.threshold == 0.6
    assert chosen.expected_value_per_row == pytest.approx(36.0)
    assert json.loads(json.dumps(chosen.to_dict()))["expected_value_per_row"] == pytest.approx(36.0)


def test_unreachable_precision_is_reported_not_raised() -> None:
    chosen = choose_threshold_for_precision([0, 1, 0, 1], [0.9, 0.8, 0.7, 0.1], target=0.99)
    assert not chosen.reached
    assert chosen.precision == pytest.approx(0.5)


def test_targets_must_be_fractions() -> None:
    with pytest.raises(DataError, match=r"target recall must be in \(0, 1\]"):
        choose_threshold_for_recall([0, 1], [0.2, 0.8], target=1.5)
