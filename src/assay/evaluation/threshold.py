"""The decision a binary classifier supports: which threshold to act on, chosen on validation data.

The decision is "positive iff score >= threshold". Every candidate threshold is a distinct score (the
lowest predicts every row positive), plus one just above the highest score (predicts none). One sort
and two cumulative sums give the confusion matrix at every candidate at once, so a choice is
O(n log n) whatever the number of distinct scores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from assay.errors import DataError
from assay.evaluation import _inputs
from assay.evaluation._kernel import descending_cumulative, score_groups
from assay.evaluation.cost import CostMatrix

Rule = Literal["min_cost", "target_precision", "target_recall"]


@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    """A chosen threshold and what it does on the rows it was chosen on."""

    threshold: float
    rule: Rule
    precision: float  # 0.0 when nothing is predicted positive
    recall: float
    predicted_positive_rate: float
    expected_cost_per_row: float | None  # None when no cost matrix was given
    target: float | None = None  # the target precision or recall
    reached: bool = True  # False: the target cannot be met; the threshold is the closest one
    note: str = ""

    @property
    def expected_value_per_row(self) -> float | None:
        """Minus the expected cost: the business value per row when the costs came from `CostMatrix.from_values`."""
        return None if self.expected_cost_per_row is None else -self.expected_cost_per_row

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "expected_value_per_row": self.expected_value_per_row}


@dataclass(frozen=True, slots=True)
class _Candidates:
    """The confusion matrix at every candidate threshold, highest threshold first (index 0: nothing positive)."""

    thresholds: np.ndarray
    true_pos: np.ndarray
    false_pos: np.ndarray
    positives: int
    negatives: int

    @property
    def precision(self) -> np.ndarray:
        predicted = self.true_pos + self.false_pos
        return np.divide(self.true_pos, predicted, out=np.zeros(len(predicted)), where=predicted > 0)

    @property
    def recall(self) -> np.ndarray:
        return self.true_pos / self.positives

    def cost_per_row(self, costs: CostMatrix) -> np.ndarray:
        false_neg = self.positives - self.true_pos
        true_neg = self.negatives - self.false_pos
        total = (
            self.true_pos * costs.true_positive
            + self.false_pos * costs.false_positive
            + false_neg * costs.false_negative
            + true_neg * costs.true_negative
        )
        return total / (self.positives + self.negatives)

    def choice(self, at: int, rule: Rule, costs: CostMatrix | None, **extra: object) -> ThresholdChoice:
        n = self.positives + self.negatives
        return ThresholdChoice(
            threshold=float(self.thresholds[at]),
            rule=rule,
            precision=float(self.precision[at]),
            recall=float(self.recall[at]),
            predicted_positive_rate=float(self.true_pos[at] + self.false_pos[at]) / n,
            expected_cost_per_row=None if costs is None else float(self.cost_per_row(costs)[at]),
            **extra,  # type: ignore[arg-type]
        )


def _candidates(labels: ArrayLike, scores: ArrayLike) -> _Candidates:
    y, p = _inputs.binary_pair(labels, scores)
    distinct, negatives, positives = score_groups(y, p)
    true_pos, false_pos, _ = descending_cumulative(negatives, positives)
    above_all = np.nextafter(distinct[-1], np.inf)
    return _Candidates(
        thresholds=np.concatenate([[above_all], distinct[::-1]]),
        true_pos=np.concatenate([[0], true_pos]),
        false_pos=np.concatenate([[0], false_pos]),
        positives=int(true_pos[-1]),
        negatives=int(false_pos[-1]),
    )


def _best(*keys: np.ndarray, among: np.ndarray) -> int:
    """Index maximising the keys in order (first key first), among the allowed candidates; ties go to the
    higher threshold (the lower index), so the choice is deterministic."""
    allowed = np.flatnonzero(among)
    # np.lexsort sorts by its last key first; the last row of the order is the best.
    order = np.lexsort((-allowed, *(key[allowed] for key in reversed(keys))))
    return int(allowed[order[-1]])


def choose_threshold_for_cost(labels: ArrayLike, scores: ArrayLike, *, costs: CostMatrix) -> ThresholdChoice:
    """The threshold with the lowest expected cost per row (the highest such threshold when several tie)."""
    candidates = _candidates(labels, scores)
    cost = candidates.cost_per_row(costs)
    return candidates.choice(int(np.argmin(cost)), "min_cost", costs)


def choose_threshold_for_precision(
    labels: ArrayLike, scores: ArrayLike, *, target: float, costs: CostMatrix | None = None
) -> ThresholdChoice:
    """Highest recall subject to precision >= target (ties: higher precision, then higher threshold).

    When no threshold reaches the target, returns the one with the highest precision, `reached=False`.
    """
    target = _inputs.fraction(target, "target precision")
    candidates = _candidates(labels, scores)
    precision, recall = candidates.precision, candidates.recall
    some_positive = candidates.true_pos + candidates.false_pos > 0
    feasible = some_positive & (precision >= target)
    if feasible.any():
        return candidates.choice(_best(recall, precision, among=feasible), "target_precision", costs, target=target)
    at = _best(precision, recall, among=some_positive)
    note = f"no threshold reaches precision {target:g}; the highest precision is {precision[at]:.4g} (recall {recall[at]:.4g})"
    return candidates.choice(at, "target_precision", costs, target=target, reached=False, note=note)


def choose_threshold_for_recall(
    labels: ArrayLike, scores: ArrayLike, *, target: float, costs: CostMatrix | None = None
) -> ThresholdChoice:
    """Highest precision subject to recall >= target (ties: higher recall, then higher threshold).

    Always reachable: the lowest threshold predicts every row positive, with recall 1.
    """
    target = _inputs.fraction(target, "target recall")
    candidates = _candidates(labels, scores)
    feasible = candidates.recall >= target
    if not feasible.any():  # unreachable by construction; kept so a future change cannot fail silently
        raise DataError(f"no threshold reaches recall {target:g}", hint="check the labels contain positives")
    return candidates.choice(_best(candidates.precision, candidates.recall, among=feasible), "target_recall", costs, target=target)


__all__ = [
    "ThresholdChoice",
    "choose_threshold_for_cost",
    "choose_threshold_for_precision",
    "choose_threshold_for_recall",
]
