"""Per-group metrics on declared sensitive columns, and the gaps between groups (fairlearn underneath).

Each sensitive column is assessed on its own. A missing value is a group of its own, `(missing)`.
Groups too small to measure (fewer than `min_group_size` rows or `min_positives` positives) are
reported and flagged `small`, and left out of the summary differences and ratios, so a handful of
rows cannot make a model look unfair, or fair.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from numpy.typing import ArrayLike
from sklearn.metrics import precision_score

from assay.errors import DataError
from assay.evaluation import _inputs
from assay.evaluation._inputs import MISSING_GROUP, group_names

@dataclass(frozen=True, slots=True)
class GroupMetrics:
    group: str
    count: int
    positives: int
    selection_rate: float  # share predicted positive
    true_positive_rate: float | None  # None without positives
    false_positive_rate: float | None  # None without negatives
    precision: float  # 0.0 when nothing is predicted positive
    mean_score: float  # calibration per group: compare with observed_rate
    observed_rate: float
    small: bool


@dataclass(frozen=True, slots=True)
class ColumnFairness:
    """One sensitive column: every group, and the gaps between the groups large enough to measure."""

    column: str
    groups: tuple[GroupMetrics, ...]
    small_groups: tuple[str, ...]  # left out of the three summary numbers
    rows_in_summary: int
    demographic_parity_difference: float | None  # max - min selection rate; None with fewer than 2 groups
    demographic_parity_ratio: float | None  # min / max selection rate
    equalized_odds_difference: float | None  # the larger of the TPR gap and the FPR gap


@dataclass(frozen=True, slots=True)
class FairnessReport:
    threshold: float
    min_group_size: int
    min_positives: int
    columns: tuple[ColumnFairness, ...]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _finite(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def _precision(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(precision_score(y_true, y_pred, zero_division=0))


def _true_positive_rate(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """NaN (reported as None) for a group without positives."""
    return float(true_positive_rate(y_true, y_pred, pos_label=1)) if (y_true == 1).any() else math.nan


def _false_positive_rate(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """NaN (reported as None) for a group without negatives."""
    return float(false_positive_rate(y_true, y_pred, pos_label=1)) if (y_true == 0).any() else math.nan


def _column(
    name: str, y: np.ndarray, scores: np.ndarray, decided: np.ndarray, groups: np.ndarray, *, min_group_size: int, min_positives: int
) -> ColumnFairness:
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": _true_positive_rate,
            "false_positive_rate": _false_positive_rate,
            "precision": _precision,
            "count": lambda y_true, y_pred: len(y_true),
            "positives": lambda y_true, y_pred: int(np.sum(y_true)),
        },
        y_true=y,
        y_pred=decided,
        sensitive_features=groups,
    )
    calibration = MetricFrame(
        metrics={"mean_score": lambda y_true, y_pred: float(np.mean(y_pred)), "observed_rate": lambda y_true, y_pred: float(np.mean(y_true))},
        y_true=y,
        y_pred=scores,
        sensitive_features=groups,
    )
    by_group, calibrated = frame.by_group, calibration.by_group
    rows = []
    for group in sorted(by_group.index):
        row, cal = by_group.loc[group], calibrated.loc[group]
        count, positives = int(row["count"]), int(row["positives"])
        rows.append(
            GroupMetrics(
                group=str(group),
                count=count,
                positives=positives,
                selection_rate=float(row["selection_rate"]),
                true_positive_rate=_finite(row["true_positive_rate"]),
                false_positive_rate=_finite(row["false_positive_rate"]),
                precision=float(row["precision"]),
                mean_score=float(cal["mean_score"]),
                observed_rate=float(cal["observed_rate"]),
                small=count < min_group_size or positives < min_positives,
            )
        )
    small = tuple(g.group for g in rows if g.small)
    kept = ~np.isin(groups, np.array(small, dtype=object))
    measured = len({g.group for g in rows} - set(small)) >= 2
    summary = {"sensitive_features": groups[kept]}
    return ColumnFairness(
        column=name,
        groups=tuple(rows),
        small_groups=small,
        rows_in_summary=int(kept.sum()),
        demographic_parity_difference=float(demographic_parity_difference(y[kept], decided[kept], **summary)) if measured else None,
        demographic_parity_ratio=_finite(demographic_parity_ratio(y[kept], decided[kept], **summary)) if measured else None,
        equalized_odds_difference=_finite(equalized_odds_difference(y[kept], decided[kept], **summary)) if measured else None,
    )


def assess_fairness(
    labels: ArrayLike,
    scores: ArrayLike,
    sensitive: Mapping[str, ArrayLike],
    *,
    threshold: float,
    min_group_size: int = 30,
    min_positives: int = 5,
) -> FairnessReport:
    """Per-group selection rate, TPR, FPR, precision and calibration for each sensitive column, at the
    decision "positive iff score >= threshold", with demographic parity and equalized odds gaps."""
    y, p = _inputs.binary_pair(labels, scores, both_classes=False)
    if not sensitive:
        raise DataError("no sensitive columns given", hint="declare the protected attributes (model.sensitive in the spec) to assess fairness")
    decided = (p >= threshold).astype(np.int8)
    columns = []
    for name, values in sorted(sensitive.items()):
        groups = group_names(values, what=f"sensitive column {name!r}")
        _inputs.same_length(labels=y, **{f"sensitive column {name!r}": groups})
        columns.append(_column(name, y, p, decided, groups, min_group_size=min_group_size, min_positives=min_positives))
    return FairnessReport(threshold=float(threshold), min_group_size=min_group_size, min_positives=min_positives, columns=tuple(columns))


__all__ = ["MISSING_GROUP", "ColumnFairness", "FairnessReport", "GroupMetrics", "assess_fairness"]
