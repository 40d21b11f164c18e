"""Preprocessing fitted on all the data before it was split, read from its statistical signature:
columns exactly standardised (or min-max scaled) over train ∪ validation ∪ test but not over train."""

from __future__ import annotations

import numpy as np
import polars as pl

from assay.leakage.detect.finding import Declarations, Finding

TOLERANCE = 1e-5  # how exactly 0 / 1 a fitted scaler leaves the mean and standard deviation
EXACT = 1e-9  # how exactly 0 / 1 a min-max scaler leaves the extremes
MIN_ROWS = 20
MAX_EVIDENCE_COLUMNS = 10


def _is_unit(std0: float, std1: float) -> bool:
    return abs(std0 - 1.0) <= TOLERANCE or abs(std1 - 1.0) <= TOLERANCE


def _standardised(values: np.ndarray) -> bool:
    if values.size < 2:
        return False
    return abs(float(values.mean())) <= TOLERANCE and _is_unit(float(values.std()), float(values.std(ddof=1)))


def _min_max_scaled(values: np.ndarray) -> bool:
    """Extremes exactly 0 and 1, each held by a single row, in a column of mostly distinct values
    (a scaler's signature; a naturally bounded column has many rows at its bounds or few values)."""
    low, high = float(values.min()), float(values.max())
    if abs(low) > EXACT or abs(high - 1.0) > EXACT:
        return False
    at_low = int((np.abs(values) <= EXACT).sum())
    at_high = int((np.abs(values - 1.0) <= EXACT).sum())
    distinct = np.unique(values).size
    return at_low == 1 and at_high == 1 and distinct >= 0.5 * values.size


def _finite(frame: pl.DataFrame, column: str) -> np.ndarray:
    values = frame.get_column(column).cast(pl.Float64).to_numpy()
    return np.asarray(values[np.isfinite(values)], dtype=np.float64)


def detect_preprocessing(
    train: pl.DataFrame,
    test: pl.DataFrame,
    declarations: Declarations,
    *,
    validation: pl.DataFrame | None = None,
    seed: int = 0,
) -> list[Finding]:
    """Numeric features whose mean/std over all splits together are exactly 0/1 (or min/max exactly
    0/1) while over train alone they are not: the scaler saw the test rows."""
    frames = [train] + ([validation] if validation is not None else []) + [test]
    standardised: list[str] = []
    scaled: list[str] = []
    evidence: dict[str, float | int | str] = {}
    for column in declarations.feature_columns(train.columns):
        if not train.schema[column].is_float():
            continue
        train_values = _finite(train, column)
        every = np.concatenate([_finite(frame, column) for frame in frames])
        if every.size < MIN_ROWS or train_values.size < 2:
            continue
        if _standardised(every) and not _standardised(train_values):
            standardised.append(column)
            if len(standardised) <= MAX_EVIDENCE_COLUMNS:
                evidence[f"{column}:mean_train"] = round(float(train_values.mean()), 6)
                evidence[f"{column}:std_train"] = round(float(train_values.std()), 6)
        elif _min_max_scaled(every) and (train_values.min() > EXACT or train_values.max() < 1.0 - EXACT):
            scaled.append(column)
            if len(scaled) <= MAX_EVIDENCE_COLUMNS:
                evidence[f"{column}:min_train"] = round(float(train_values.min()), 6)
                evidence[f"{column}:max_train"] = round(float(train_values.max()), 6)
    if not standardised and not scaled:
        return []
    parts = []
    if standardised:
        parts.append(f"{len(standardised)} column(s) have mean exactly 0 and standard deviation exactly 1 over all splits together, but not over train")
    if scaled:
        parts.append(f"{len(scaled)} column(s) span exactly [0, 1] over all splits together, with an extreme outside train")
    evidence["standardised_columns"] = len(standardised)
    evidence["min_max_columns"] = len(scaled)
    return [
        Finding(
            kind="preprocessing_before_split",
            severity="warning",
            message="; ".join(parts) + ": a scaler was fitted on the whole dataset before it was split, so the test rows shaped the features",
            fix="split first, then fit scalers, imputers and encoders on the training rows only (inside the model pipeline)",
            columns=tuple(sorted(standardised + scaled)),
            evidence=evidence,
        )
    ]


__all__ = ["detect_preprocessing"]
