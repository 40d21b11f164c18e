"""Checks on the arrays handed to the evaluation functions: parse once at the public edge, trust inside."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from assay.errors import DataError

MISSING_GROUP = "(missing)"


def _vector(values: ArrayLike, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"{what} must be one-dimensional, got shape {array.shape}", hint=f"pass {what} as a flat array, one value per row")
    if array.size == 0:
        raise DataError(f"{what} is empty", hint="evaluate on at least one row")
    return array


def same_length(**arrays: np.ndarray) -> None:
    """Every array has the same number of rows; the message names each length."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {length}" for name, length in lengths.items())
        raise DataError(f"row counts differ: {described}", hint="pass arrays aligned row by row (same rows, same order)")


def binary_labels(labels: ArrayLike, *, both_classes: bool = True) -> np.ndarray:
    """0/1 labels as int8; booleans and 0.0/1.0 floats are accepted."""
    array = _vector(labels, "labels")
    if array.dtype.kind == "f" and np.isnan(array).any():
        raise DataError("labels contain NaN", hint="drop unlabelled rows before evaluating")
    if array.dtype.kind not in "biuf" or not np.isin(array, (0, 1)).all():
        found = sorted({str(value) for value in np.unique(array)[:5]})
        raise DataError(f"binary labels must be 0/1 or booleans, found {', '.join(found)}", hint="encode the positive class as 1 and the negative class as 0")
    out = array.astype(np.int8)
    if both_classes and (out.min() == out.max()):
        raise DataError(
            f"labels contain a single class ({int(out[0])}) in {len(out)} row(s)",
            hint="this metric needs both classes: evaluate on more rows, or a split that has positives and negatives",
        )
    return out


def probabilities(scores: ArrayLike, what: str = "scores") -> np.ndarray:
    """Finite floats in [0, 1]."""
    array = _vector(scores, what).astype(np.float64)
    bad = ~np.isfinite(array) | (array < 0) | (array > 1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{what} must be probabilities in [0, 1]; {int(bad.sum())} row(s) are not (row {first}: {array[first]!r})",
            hint="pass the positive-class probability (predict_proba[:, 1]), not a decision function or a label",
        )
    return array


def real_values(values: ArrayLike, what: str) -> np.ndarray:
    """Finite floats (regression targets and predictions, or any scores)."""
    array = _vector(values, what).astype(np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        raise DataError(f"{what} has {int(bad.sum())} missing or infinite value(s)", hint=f"drop or fill those rows before evaluating; {what} must be finite")
    return array


def binary_pair(labels: ArrayLike, scores: ArrayLike, *, both_classes: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(labels as int8 0/1, positive-class probabilities), checked and aligned."""
    y = binary_labels(labels, both_classes=both_classes)
    p = probabilities(scores)
    same_length(labels=y, scores=p)
    return y, p


def regression_pair(targets: ArrayLike, predictions: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = real_values(targets, "targets")
    f = real_values(predictions, "predictions")
    same_length(targets=y, predictions=f)
    return y, f


def fraction(value: float, what: str, *, closed_at_one: bool = True) -> float:
    """A number in (0, 1] (or (0, 1) when not closed at one)."""
    upper_ok = value <= 1 if closed_at_one else value < 1
    if not (np.isfinite(value) and value > 0 and upper_ok):
        interval = "(0, 1]" if closed_at_one else "(0, 1)"
        raise DataError(f"{what} must be in {interval}, got {value!r}", hint=f"pass {what} as a fraction, e.g. 0.1 for 10%")
    return float(value)


def group_names(values: ArrayLike, *, what: str) -> np.ndarray:
    """Each value as a group name (its str), missing values (None, NaN) as `(missing)`; object array."""
    array = _vector(values, what)
    if array.dtype.kind == "f":
        names = array.astype(str).astype(object)
        names[np.isnan(array)] = MISSING_GROUP
        return names
    return np.array([MISSING_GROUP if _is_missing(v) else str(v) for v in array.tolist()], dtype=object)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
