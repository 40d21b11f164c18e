"""Are the probabilities honest? Calibration error, the Brier decomposition, reliability-diagram data,
and calibrators stored as plain numbers (JSON next to the model, never pickle)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from sklearn.isotonic import IsotonicRegression

from assay.errors import DataError
from assay.evaluation import _inputs

Binning = Literal["uniform", "quantile"]
CalibrationMethod = Literal["isotonic", "sigmoid"]
CALIBRATOR_FORMAT = 1


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True, slots=True)
class Reliability:
    """Per-bin mean probability and observed positive rate (empty bins are left out), and the ECE."""

    binning: Binning
    bins: tuple[ReliabilityBin, ...]
    expected_calibration_error: float  # sum over bins of (count / n) * |mean predicted - observed rate|

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _bin_edges(scores: np.ndarray, n_bins: int, binning: Binning) -> np.ndarray:
    if n_bins < 1:
        raise DataError(f"n_bins must be at least 1, got {n_bins}", hint="use 10 or 15 bins")
    if binning == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    if binning == "quantile":
        return np.unique(np.quantile(scores, np.linspace(0.0, 1.0, n_bins + 1)))
    raise DataError(f"unknown binning {binning!r}", hint="use 'uniform' (equal width) or 'quantile' (equal mass)")


def reliability(labels: ArrayLike, scores: ArrayLike, *, n_bins: int = 10, binning: Binning = "uniform") -> Reliability:
    """Reliability-diagram data and expected calibration error.

    `uniform` bins split [0, 1] into equal widths; `quantile` bins hold (about) equal numbers of rows
    (fewer bins when scores tie). Bins are [lower, upper), the last one closed.
    """
    y, p = _inputs.binary_pair(labels, scores, both_classes=False)
    edges = _bin_edges(p, n_bins, binning)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    n_edges = max(len(edges) - 1, 1)
    counts = np.bincount(which, minlength=n_edges)
    score_sums = np.bincount(which, weights=p, minlength=n_edges)
    positive_sums = np.bincount(which, weights=y, minlength=n_edges)
    bins = []
    error = 0.0
    for index in np.flatnonzero(counts):
        count = int(counts[index])
        mean_predicted, observed = score_sums[index] / count, positive_sums[index] / count
        error += count / len(y) * abs(mean_predicted - observed)
        upper = edges[index + 1] if len(edges) > 1 else edges[0]
        bins.append(ReliabilityBin(float(edges[index]), float(upper), count, float(mean_predicted), float(observed)))
    return Reliability(binning=binning, bins=tuple(bins), expected_calibration_error=float(error))


def expected_calibration_error(labels: ArrayLike, scores: ArrayLike, *, n_bins: int = 10, binning: Binning = "uniform") -> float:
    """Row-weighted mean gap between mean probability and observed rate over bins (0 is perfect)."""
    return reliability(labels, scores, n_bins=n_bins, binning=binning).expected_calibration_error


@dataclass(frozen=True, slots=True)
class BrierDecomposition:
    """Murphy's decomposition: brier = reliability - resolution + uncertainty (+ binning error)."""

    brier: float
    reliability: float  # calibration error: lower is better
    resolution: float  # how far bin rates move from the base rate: higher is better
    uncertainty: float  # base rate * (1 - base rate): the data's, not the model's
    binning_error: float  # brier - (reliability - resolution + uncertainty); 0 when forecasts are constant per bin

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def brier_decomposition(labels: ArrayLike, scores: ArrayLike, *, n_bins: int = 10, binning: Binning = "uniform") -> BrierDecomposition:
    """Reliability, resolution and uncertainty over the reliability bins (each bin's forecast is its mean)."""
    y, p = _inputs.binary_pair(labels, scores, both_classes=False)
    table = reliability(y, p, n_bins=n_bins, binning=binning)
    n, base_rate = len(y), float(y.mean())
    rel = sum(b.count * (b.mean_predicted - b.observed_rate) ** 2 for b in table.bins) / n
    res = sum(b.count * (b.observed_rate - base_rate) ** 2 for b in table.bins) / n
    unc = base_rate * (1 - base_rate)
    brier = float(np.mean((p - y) ** 2))
    return BrierDecomposition(brier=brier, reliability=rel, resolution=res, uncertainty=unc, binning_error=brier - (rel - res + unc))


# --- calibrators -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Calibrator:
    """A fitted map from scores to calibrated probabilities, as plain numbers.

    isotonic: piecewise-linear through (x, y) points, flat outside them (`np.interp`);
    sigmoid (Platt): 1 / (1 + exp(a * score + b)).
    """

    method: CalibrationMethod
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 0.0
    b: float = 0.0

    def apply(self, scores: ArrayLike) -> np.ndarray:
        values = _inputs.real_values(scores, "scores")
        if self.method == "isotonic":
            return np.interp(values, np.asarray(self.x), np.asarray(self.y))
        return 1.0 / (1.0 + np.exp(self.a * values + self.b))

    def to_dict(self) -> dict[str, object]:
        base: dict[str, object] = {"format": CALIBRATOR_FORMAT, "method": self.method}
        if self.method == "isotonic":
            return {**base, "x": list(self.x), "y": list(self.y)}
        return {**base, "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Calibrator:
        if data.get("format") != CALIBRATOR_FORMAT or data.get("method") not in ("isotonic", "sigmoid"):
            raise DataError(
                f"not a calibrator this version can read (format {data.get('format')!r}, method {data.get('method')!r})",
                hint=f"expected format {CALIBRATOR_FORMAT} with method 'isotonic' or 'sigmoid'; refit the calibrator",
            )
        if data["method"] == "isotonic":
            x, y = tuple(float(v) for v in data["x"]), tuple(float(v) for v in data["y"])  # type: ignore[attr-defined]
            if len(x) != len(y) or not x:
                raise DataError("isotonic calibrator needs as many x as y points, at least one", hint="refit the calibrator")
            return cls(method="isotonic", x=x, y=y)
        return cls(method="sigmoid", a=float(data["a"]), b=float(data["b"]))  # type: ignore[arg-type]


def _fit_platt(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Platt scaling with his smoothed targets, by L-BFGS on the log loss (gradient exact)."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    target = np.where(labels == 1, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        z = params[0] * scores + params[1]  # probability = 1 / (1 + exp(z))
        # -[t log p + (1 - t) log(1 - p)] with log p = -logaddexp(0, z), log(1 - p) = z - logaddexp(0, z)
        value = np.sum(np.logaddexp(0.0, z) - (1 - target) * z)
        residual = (1 - target) - 1.0 / (1.0 + np.exp(-z))  # d/dz of the negative log likelihood is sigmoid(z) - (1 - t)
        grad = -np.array([np.dot(residual, scores), residual.sum()])
        return float(value), grad

    prior = math.log((negatives + 1.0) / (positives + 1.0))
    found = minimize(loss, x0=np.array([0.0, prior]), jac=True, method="L-BFGS-B")
    return float(found.x[0]), float(found.x[1])


def fit_calibrator(method: CalibrationMethod, scores: ArrayLike, labels: ArrayLike) -> Calibrator:
    """Fit on a calibration split (rows the model was not fitted on, never the test set)."""
    y, p = _inputs.binary_pair(labels, scores)
    if method == "isotonic":
        fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
        return Calibrator(method="isotonic", x=tuple(map(float, fitted.X_thresholds_)), y=tuple(map(float, fitted.y_thresholds_)))
    if method == "sigmoid":
        a, b = _fit_platt(p, y)
        return Calibrator(method="sigmoid", a=a, b=b)
    raise DataError(f"unknown calibration method {method!r}", hint="use 'isotonic' (many rows) or 'sigmoid' (few rows)")


@dataclass(frozen=True, slots=True)
class CalibrationSplit:
    """Training rows split in two: fit the model on `fit_indices`, the calibrator on `calibration_indices`."""

    fit_indices: np.ndarray
    calibration_indices: np.ndarray


def carve_calibration_split(train_indices: ArrayLike, *, fraction: float, seed: int, labels: ArrayLike) -> CalibrationSplit:
    """A stratified random `fraction` of the TRAINING rows, held out to fit a calibrator.

    Contract: pass the training indices only, never validation or test ones; every returned index is
    one of `train_indices`, so the test set stays untouched. `labels[i]` is the label of row
    `train_indices[i]`. Each class keeps at least one row on each side; output indices are sorted.
    """
    indices = _inputs.real_values(train_indices, "train_indices").astype(np.int64)
    if len(np.unique(indices)) != len(indices):
        raise DataError("train_indices has repeated rows", hint="pass each training row index once")
    y = _inputs.binary_labels(labels)
    _inputs.same_length(train_indices=indices, labels=y)
    share = _inputs.fraction(fraction, "fraction", closed_at_one=False)
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for cls in (0, 1):
        members = indices[y == cls]
        if len(members) < 2:
            raise DataError(f"class {cls} has {len(members)} training row(s); a calibration split needs at least 2", hint="calibrate only with enough rows of each class")
        take = min(max(1, round(share * len(members))), len(members) - 1)
        held.append(rng.permutation(members)[:take])
    calibration = np.sort(np.concatenate(held))
    return CalibrationSplit(fit_indices=np.setdiff1d(indices, calibration), calibration_indices=calibration)


__all__ = [
    "BrierDecomposition",
    "CalibrationSplit",
    "Calibrator",
    "Reliability",
    "ReliabilityBin",
    "brier_decomposition",
    "carve_calibration_split",
    "expected_calibration_error",
    "fit_calibrator",
    "reliability",
]
