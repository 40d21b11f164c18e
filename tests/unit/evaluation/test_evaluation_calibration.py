"""Calibration: ECE by hand, the Brier decomposition sums, calibrators fix a squashed model, the split stays in train."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss

from assay.errors import DataError
from assay.evaluation import (
    Calibrator,
    brier_decomposition,
    carve_calibration_split,
    expected_calibration_error,
    fit_calibrator,
    reliability,
)


def _squashed(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn with the true probability t; the model reports t**3 (badly under-confident for positives)."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n)
    return (rng.random(n) < truth).astype(int), truth**3


def test_ece_and_reliability_bins_by_hand() -> None:
    table = reliability([0, 1, 1, 1], [0.2, 0.2, 0.8, 0.8], n_bins=10)
    assert [(b.count, b.mean_predicted, b.observed_rate) for b in table.bins] == pytest.approx([(2, 0.2, 0.5), (2, 0.8, 1.0)])
    assert (table.bins[0].lower, table.bins[0].upper) == pytest.approx((0.2, 0.3))
    # Half the rows off by 0.3, half by 0.2.
    assert table.expected_calibration_error == pytest.approx(0.25)
    assert json.loads(json.dumps(table.to_dict()))["bins"][1]["observed_rate"] == 1.0


def test_equal_mass_bins_hold_equal_counts() -> None:
    labels, scores = _squashed(1000, 1)
    table = reliability(labels, scores, n_bins=5, binning="quantile")
    assert [b.count for b in table.bins] == [200] * 5
    assert expected_calibration_error(labels, scores, n_bins=5, binning="quantile") == table.expected_calibration_error


def test_brier_decomposition_sums_exactly_when_forecasts_are_constant_per_bin() -> None:
    rng = np.random.default_rng(2)
    forecasts = rng.choice([0.05, 0.3, 0.55, 0.9], size=400)
    labels = (rng.random(400) < forecasts).astype(int)
    parts = brier_decomposition(labels, forecasts, n_bins=10)
    assert parts.brier == pytest.approx(brier_score_loss(labels, forecasts))
    assert parts.reliability - parts.resolution + parts.uncertainty == pytest.approx(parts.brier, abs=1e-12)
    assert parts.binning_error == pytest.approx(0.0, abs=1e-12)
    assert parts.uncertainty == pytest.approx(labels.mean() * (1 - labels.mean()))


def test_brier_decomposition_by_hand() -> None:
    # Forecast 0.2 for two rows (one positive), 0.8 for two rows (both positive). Base rate 0.75.
    parts = brier_decomposition([0, 1, 1, 1], [0.2, 0.2, 0.8, 0.8])
    assert parts.reliability == pytest.approx((2 * 0.3**2 + 2 * 0.2**2) / 4)
    assert parts.resolution == pytest.approx((2 * 0.25**2 + 2 * 0.25**2) / 4)
    assert parts.uncertainty == pytest.approx(0.1875)
    assert parts.brier == pytest.approx((0.04 + 0.64 + 0.04 + 0.04) / 4)


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibrators_fitted_on_a_calibration_split_reduce_ece_on_test(method: str) -> None:
    labels, scores = _squashed(6000, 3)
    train, test = np.arange(4000), np.arange(4000, 6000)
    split = carve_calibration_split(train, fraction=0.5, seed=0, labels=labels[train])
    assert not set(split.calibration_indices) & set(test)
    calibrator = fit_calibrator(method, scores[split.calibration_indices], labels[split.calibration_indices])
    before = expected_calibration_error(labels[test], scores[test])
    after = expected_calibration_error(labels[test], calibrator.apply(scores[test]))
    assert before > 0.15
    assert after < before / 2


def test_calibrators_round_trip_through_json_without_pickle() -> None:
    labels, scores = _squashed(2000, 4)
    for method in ("isotonic", "sigmoid"):
        fitted = fit_calibrator(method, scores, labels)
        restored = Calibrator.from_dict(json.loads(json.dumps(fitted.to_dict())))
        assert restored == fitted
        assert np.array_equal(restored.apply(scores), fitted.apply(scores))


def test_isotonic_calibrator_predicts_like_sklearn() -> None:
    labels, scores = _squashed(2000, 5)
    fitted = fit_calibrator("isotonic", scores, labels)
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(scores, labels)
    probe = np.linspace(-0.1, 1.1, 101)
    assert fitted.apply(probe) == pytest.approx(reference.predict(probe))


def test_an_unknown_calibrator_format_is_refused() -> None:
    with pytest.raises(DataError, match="not a calibrator"):
        Calibrator.from_dict({"format": 99, "method": "isotonic"})


def test_calibration_split_is_a_stratified_subset_of_the_training_rows() -> None:
    rng = np.random.default_rng(6)
    all_rows = rng.permutation(1000)
    train, test = np.sort(all_rows[:700]), np.sort(all_rows[700:])
    labels = (rng.random(1000) < 0.2).astype(int)
    split = carve_calibration_split(train, fraction=0.25, seed=1, labels=labels[train])
    held = split.calibration_indices
    assert set(held) <= set(train) and not set(held) & set(test)
    assert sorted([*held, *split.fit_indices]) == sorted(train)
    assert labels[held].mean() == pytest.approx(labels[train].mean(), abs=0.01)
    assert len(held) == pytest.approx(175, abs=1)
    again = carve_calibration_split(train, fraction=0.25, seed=1, labels=labels[train])
    assert np.array_equal(again.calibration_indices, held)


def test_calibration_split_refuses_a_class_it_cannot_split() -> None:
    with pytest.raises(DataError, match="class 1 has 1 training row"):
        carve_calibration_split(np.arange(10), fraction=0.3, seed=0, labels=[1] + [0] * 9)
