"""Rank statistics the detectors share: how well one score orders the target, independent of row order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

TargetKind = Literal["binary", "numeric", "other"]


def is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype == pl.Boolean


def as_float(series: pl.Series) -> np.ndarray:
    """A numeric (or boolean) series as float64 with NaN for missing values."""
    return series.cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64, copy=False)


def _ranks(values: np.ndarray) -> np.ndarray:
    return pl.Series(values).rank("average").to_numpy().astype(np.float64)


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney AUC of `score` for the boolean `positive` (ties count half); NaN when a class is empty."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _ranks(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation; NaN when either side is constant."""
    if x.size < 3:
        return float("nan")
    rx, ry = _ranks(x), _ranks(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denominator = float(np.sqrt((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / denominator) if denominator > 0 else float("nan")


def auc_null_se(positive: np.ndarray) -> float:
    """Standard error of the AUC when the score carries no information about the target."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("inf")
    return float(np.sqrt((n_pos + n_neg + 1) / (12.0 * n_pos * n_neg)))


@dataclass(frozen=True, slots=True)
class TargetView:
    """The target as numbers: 0/1 for a two-valued target (1 = the larger value), the values for a
    numeric one; NaN where missing. `kind` "other" (e.g. a many-valued text target) has no numbers."""

    kind: TargetKind
    train: np.ndarray
    test: np.ndarray
    positive_label: str = ""

    @property
    def metric(self) -> str:
        return "auc" if self.kind == "binary" else "spearman"


def target_view(train: pl.Series, test: pl.Series) -> TargetView:
    both = pl.concat([train, test.cast(train.dtype, strict=False)]).drop_nulls()
    values = both.unique().sort()
    if values.len() == 2:
        positive = values[1]
        return TargetView(
            "binary",
            _indicator(train, positive),
            _indicator(test.cast(train.dtype, strict=False), positive),
            str(positive),
        )
    if is_numeric(train.dtype) and values.len() > 2:
        return TargetView("numeric", as_float(train), as_float(test))
    return TargetView("other", np.empty(0), np.empty(0))


def _indicator(series: pl.Series, positive: object) -> np.ndarray:
    flags = (series == positive).cast(pl.Float64).to_numpy().astype(np.float64, copy=True)
    flags[series.is_null().to_numpy()] = np.nan
    return flags


def strength(score: np.ndarray, y: np.ndarray, kind: TargetKind) -> float:
    """How well `score` orders `y` (rows where both are known): AUC for a binary target, Spearman
    correlation for a numeric one. 0.5 (AUC) or 0 (Spearman) is no information; NaN if undefined."""
    keep = np.isfinite(score) & np.isfinite(y)
    if keep.sum() < 3:
        return float("nan")
    if kind == "binary":
        return auc(score[keep], y[keep] > 0.5)
    return spearman(score[keep], y[keep])


def oriented(train_value: float, test_value: float, kind: TargetKind) -> tuple[float, float]:
    """Both strengths read in the direction the training data shows, so a score that orders the
    target backwards on train and test counts as strong, and one that flips does not."""
    centre = 0.5 if kind == "binary" else 0.0
    if np.isnan(train_value) or train_value >= centre:
        return train_value, test_value
    return 2 * centre - train_value, 2 * centre - test_value


__all__ = ["TargetKind", "TargetView", "as_float", "auc", "auc_null_se", "is_numeric", "oriented", "spearman", "strength", "target_view"]
