"""Metric kernels: each metric prepared once (sorted, ranked, per-row losses), then evaluated on many
resamples of the rows at O(n) each.

A resample is a (batch, n) matrix of drawn row indices. Every metric here is then either

- a ratio of sums of per-row values (log loss, Brier, MAE, RMSE before its square root, MAPE over
  the rows with a non-zero target, pinball loss): gather the values at the draws and sum;
- a function of the confusion matrix of one decision (accuracy, precision, recall, F1, expected
  cost): gather the precomputed cell of each drawn row, and count the 4 cells with np.bincount;
- a function of the negatives and positives at each distinct score (ROC AUC, average precision,
  lift): the rows were sorted by score once, when the kernel was built; np.bincount of the draws
  (as positions in that order) gives the multinomial weight of every row, and a resample then needs
  only products and cumulative sums in that order, never a sort.

The full-data metric is the same kernel on the identity resample, so the public metric functions and
the bootstrap share one implementation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from assay.evaluation import _inputs
from assay.evaluation.cost import CostMatrix
from assay.errors import DataError

# Elements per batch of resamples (2 MiB of indices): small n is vectorised over resamples, large n is one per batch.
_BATCH_ELEMENTS = 1 << 18

HIGHER_IS_BETTER = frozenset({"roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "lift", "value"})
LOWER_IS_BETTER_NAMED = frozenset({"log_loss", "brier", "expected_cost", "mae", "rmse", "mape", "pinball"})
CLASSIFICATION_NAMES = frozenset({"roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "precision", "recall", "f1", "lift", "expected_cost", "value"})
REGRESSION_NAMES = frozenset({"mae", "rmse", "mape", "pinball"})
METRIC_NAMES = CLASSIFICATION_NAMES | REGRESSION_NAMES


@dataclass(frozen=True, slots=True)
class Metric:
    """A metric and its parameters. Name one of `METRIC_NAMES`, or wrap any function with `custom`.

    `threshold` is used by accuracy, precision, recall, f1, expected_cost and value; `quantile` by
    pinball; `fraction` (of rows, highest scores first) by lift; `costs` by expected_cost and value.
    """

    name: str
    threshold: float = 0.5
    quantile: float = 0.5
    fraction: float = 0.1
    costs: CostMatrix | None = None
    function: Callable[[np.ndarray, np.ndarray], float] | None = None
    higher_is_better: bool | None = None  # None: known from the name (METRIC_NAMES)

    def __post_init__(self) -> None:
        if self.function is None and self.name not in METRIC_NAMES:
            raise DataError(f"unknown metric {self.name!r}", hint=f"use one of {', '.join(sorted(METRIC_NAMES))}, or Metric.custom(...)")
        if self.name in ("expected_cost", "value") and self.costs is None and self.function is None:
            raise DataError(f"metric {self.name!r} needs a cost matrix", hint=f"pass Metric({self.name!r}, costs=CostMatrix(...))")

    @classmethod
    def custom(cls, name: str, function: Callable[[np.ndarray, np.ndarray], float], *, higher_is_better: bool) -> Metric:
        """Any function of (labels, predictions) -> float. Bootstrapped by re-running it per resample (O(n) or worse each)."""
        return cls(name=name, function=function, higher_is_better=higher_is_better)

    @classmethod
    def of(cls, metric: str | Metric) -> Metric:
        return metric if isinstance(metric, Metric) else cls(name=metric)

    def prefers_higher(self) -> bool:
        """True when a larger value is better (AUCs, F1, lift, value); False for losses and costs."""
        if self.higher_is_better is not None:
            return self.higher_is_better
        return self.name in HIGHER_IS_BETTER

    @property
    def is_regression(self) -> bool:
        return self.function is None and self.name in REGRESSION_NAMES

    @property
    def label(self) -> str:
        """The name with its parameter, for reports: f1@0.5, pinball@0.9, lift@0.1."""
        if self.name in ("accuracy", "precision", "recall", "f1", "expected_cost", "value"):
            return f"{self.name}@{self.threshold:g}"
        if self.name == "pinball":
            return f"pinball@{self.quantile:g}"
        if self.name == "lift":
            return f"lift@{self.fraction:g}"
        return self.name


class Kernel:
    """A metric prepared on one dataset. `evaluate(indices)` gives the metric on each resample, NaN where
    undefined; `indices` is (batch, n_rows), the rows drawn for each resample."""

    n_rows: int
    order: np.ndarray | None = None  # the kernel's own row order (rows sorted by score), when it has one
    _position: np.ndarray | None = None  # row -> position in `order`

    def evaluate(self, indices: np.ndarray) -> np.ndarray:
        return self.evaluate_positions(indices if self._position is None else self._position[indices])

    def evaluate_positions(self, positions: np.ndarray) -> np.ndarray:
        """The same, with the draws given as positions in the kernel's own row order (`order`). A uniform
        draw of positions is a uniform draw of rows, so a bootstrap of one model can draw positions directly."""
        raise NotImplementedError

    def full(self) -> float:
        return float(self.evaluate_positions(np.arange(self.n_rows)[None, :])[0])


def _binned(codes: np.ndarray, n_cells: int) -> np.ndarray:
    """(batch, n) cell codes -> (batch, n_cells) counts: one np.bincount, each resample offset into its own block."""
    batch = len(codes)
    offsets = (np.arange(batch, dtype=np.int64) * n_cells)[:, None]
    return np.bincount((codes + offsets).ravel(), minlength=batch * n_cells).reshape(batch, n_cells)


class _RatioKernel(Kernel):
    """sum(numerator[drawn]) / sum(denominator[drawn]), then an optional square root (RMSE)."""

    def __init__(self, numerator: np.ndarray, denominator: np.ndarray | None = None, *, sqrt: bool = False) -> None:
        self.n_rows = len(numerator)
        self._numerator, self._denominator, self._sqrt = numerator, denominator, sqrt

    def evaluate_positions(self, positions: np.ndarray) -> np.ndarray:
        top = self._numerator[positions].sum(axis=1)
        if self._denominator is None:
            return np.sqrt(top / positions.shape[1]) if self._sqrt else top / positions.shape[1]
        bottom = self._denominator[positions].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)
        return np.sqrt(value) if self._sqrt else value


class _ConfusionKernel(Kernel):
    """A function of the confusion matrix of one decision: the cell (2 * label + decision) of every row
    is precomputed, so a resample is a gather and a 4-bin np.bincount."""

    def __init__(self, labels: np.ndarray, decided: np.ndarray, finish: Callable[[np.ndarray], np.ndarray]) -> None:
        self.n_rows = len(labels)
        self._cells = 2 * labels.astype(np.int64) + decided  # 0 tn, 1 fp, 2 fn, 3 tp
        self._finish = finish

    def evaluate_positions(self, positions: np.ndarray) -> np.ndarray:
        return self._finish(_binned(self._cells[positions], 4).astype(np.float64))


class _RankingKernel(Kernel):
    """A function of the negatives and positives drawn at each distinct score (ascending).

    Rows are sorted by score once, here. A resample's positions in that order become multinomial
    weights with one np.bincount; positives and negatives per score are then products, and, only when
    scores tie, a segmented sum (np.add.reduceat) over the tie groups. Never a sort per resample.
    """

    def __init__(self, labels: np.ndarray, scores: np.ndarray, finish: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        self.n_rows = len(labels)
        self.order = np.argsort(scores, kind="stable")
        self._position = np.empty(self.n_rows, dtype=np.int64)
        self._position[self.order] = np.arange(self.n_rows)
        ordered = scores[self.order]
        self._positive = labels[self.order].astype(np.float64)
        self._starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
        self._ties = len(self._starts) < self.n_rows
        self._finish = finish

    def evaluate_positions(self, positions: np.ndarray) -> np.ndarray:
        weights = _binned(positions, self.n_rows).astype(np.float64)
        positives = weights * self._positive
        negatives = weights - positives
        if self._ties:
            positives = np.add.reduceat(positives, self._starts, axis=1)
            negatives = np.add.reduceat(negatives, self._starts, axis=1)
        return self._finish(negatives, positives)


class _CallableKernel(Kernel):
    """Any function, re-run on the rows of each resample."""

    def __init__(self, function: Callable[[np.ndarray, np.ndarray], float], labels: np.ndarray, predictions: np.ndarray) -> None:
        self.n_rows = len(labels)
        self._function, self._labels, self._predictions = function, labels, predictions

    def evaluate_positions(self, positions: np.ndarray) -> np.ndarray:
        return np.array([float(self._function(self._labels[rows], self._predictions[rows])) for rows in positions])


# --- finishing functions on (negatives, positives) per distinct score, ascending ------------------


def score_groups(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct scores ascending, negatives per distinct score, positives per distinct score)."""
    distinct, rank = np.unique(scores, return_inverse=True)
    positives = np.bincount(rank, weights=labels, minlength=len(distinct))
    return distinct, np.bincount(rank, minlength=len(distinct)) - positives, positives


def descending_cumulative(negatives: np.ndarray, positives: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true positives, false positives, positives per group) at each distinct score, highest score first."""
    positives = positives[..., ::-1]
    return np.cumsum(positives, axis=-1), np.cumsum(negatives[..., ::-1], axis=-1), positives


def _roc_auc(negatives: np.ndarray, positives: np.ndarray) -> np.ndarray:
    # Each positive beats the negatives strictly below its score and ties half of those at its score:
    # twice the wins = sum of positives * (2 * negatives up to and including the score - those at it).
    at_or_below = np.cumsum(negatives, axis=1)
    twice_won = 2 * np.einsum("ij,ij->i", positives, at_or_below) - np.einsum("ij,ij->i", positives, negatives)
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, twice_won / (2.0 * np.where(pairs > 0, pairs, 1)), np.nan)


def _average_precision(negatives: np.ndarray, positives: np.ndarray) -> np.ndarray:
    true_pos, false_pos, positives = descending_cumulative(negatives, positives)
    predicted = true_pos + false_pos
    precision = np.divide(true_pos, predicted, out=np.zeros(true_pos.shape), where=predicted > 0)
    total = true_pos[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (positives * precision).sum(axis=1) / np.where(total > 0, total, 1), np.nan)


def _lift(fraction: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def finish(negatives: np.ndarray, positives: np.ndarray) -> np.ndarray:
        true_pos, false_pos, positives = descending_cumulative(negatives, positives)
        taken = true_pos + false_pos
        n = taken[:, -1]
        top = np.maximum(1, np.ceil(fraction * n - 1e-9))
        rows = np.arange(len(taken))
        boundary = np.argmax(taken >= top[:, None], axis=1)  # the group where the top k ends
        before_taken = np.where(boundary > 0, taken[rows, boundary - 1], 0)
        before_pos = np.where(boundary > 0, true_pos[rows, boundary - 1], 0)
        group_size = taken[rows, boundary] - before_taken
        # Ties at the cut share the group's positive rate: the expectation over random tie-breaks.
        in_top = before_pos + (top - before_taken) * positives[rows, boundary] / np.maximum(group_size, 1)
        base_rate = true_pos[:, -1] / n
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(base_rate > 0, (in_top / top) / np.where(base_rate > 0, base_rate, 1), np.nan)

    return finish


def _at_threshold(name: str, costs: CostMatrix | None) -> Callable[[np.ndarray], np.ndarray]:
    def finish(counts: np.ndarray) -> np.ndarray:
        tn, fp, fn, tp = counts.T
        n = counts.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            if name == "accuracy":
                return (tp + tn) / n
            if name == "precision":  # 0 when nothing is predicted positive (scikit-learn's zero_division=0)
                return np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-300), 0.0)
            if name == "recall":
                return np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1e-300), np.nan)
            if name == "f1":
                return np.where(tp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1e-300), np.nan)
            cost = counts @ (costs.by_cell() if costs is not None else np.zeros(4)) / n
            return cost if name == "expected_cost" else -cost

    return finish


def build(metric: Metric, labels: np.ndarray, predictions: np.ndarray) -> Kernel:
    """The kernel of `metric` on checked inputs (binary labels and probabilities, or regression targets and predictions)."""
    if metric.function is not None:
        return _CallableKernel(metric.function, labels, predictions)
    name = metric.name
    if name in ("roc_auc", "pr_auc", "lift"):
        finish = {"roc_auc": _roc_auc, "pr_auc": _average_precision}.get(name) or _lift(_inputs.fraction(metric.fraction, "fraction"))
        return _RankingKernel(labels, predictions, finish)
    if name in ("accuracy", "precision", "recall", "f1", "expected_cost", "value"):
        return _ConfusionKernel(labels, predictions >= metric.threshold, _at_threshold(name, metric.costs))
    if name == "log_loss":
        clipped = np.clip(predictions, np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
        return _RatioKernel(-np.where(labels == 1, np.log(clipped), np.log1p(-clipped)))
    if name == "brier":
        return _RatioKernel((predictions - labels) ** 2)
    errors = predictions - labels
    if name == "mae":
        return _RatioKernel(np.abs(errors))
    if name == "rmse":
        return _RatioKernel(errors**2, sqrt=True)
    if name == "mape":
        kept = labels != 0
        return _RatioKernel(np.where(kept, np.abs(errors) / np.where(kept, np.abs(labels), 1), 0.0), kept.astype(np.float64))
    quantile = _inputs.fraction(metric.quantile, "quantile", closed_at_one=False)
    residual = labels - predictions
    return _RatioKernel(np.maximum(quantile * residual, (quantile - 1) * residual))


def checked_inputs(metric: Metric, labels: object, predictions: object) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions checked for the metric's task: binary/probabilities, regression, or as given (custom)."""
    if metric.function is not None:
        y, f = np.asarray(labels), np.asarray(predictions)
        _inputs.same_length(labels=y, predictions=f)
        return y, f
    if metric.is_regression:
        return _inputs.regression_pair(labels, predictions)  # type: ignore[arg-type]
    needs_both = metric.name in ("roc_auc", "pr_auc", "recall", "f1", "lift")
    return _inputs.binary_pair(labels, predictions, both_classes=needs_both)  # type: ignore[arg-type]


def resample_indices(n_rows: int, n_resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Bootstrap resamples as (batch, n_rows) draws with replacement. The batch size depends only on
    n_rows, so a seed fixes the draws."""
    per_batch = max(1, _BATCH_ELEMENTS // n_rows)
    remaining = n_resamples
    while remaining > 0:
        batch = min(per_batch, remaining)
        yield rng.integers(0, n_rows, size=(batch, n_rows))
        remaining -= batch


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
