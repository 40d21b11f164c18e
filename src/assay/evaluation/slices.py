"""Where is the model weak? A metric on each value of declared slice columns, and the worst slices.

Categorical columns slice by value (missing values form `(missing)`); numeric columns slice into
quantile bins of their non-missing values. Slices smaller than `min_slice_size` are reported and
flagged `small`, but never ranked among the worst: a 3-row slice is noise, not a finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike

from assay.errors import DataError
from assay.evaluation import _inputs
from assay.evaluation._inputs import MISSING_GROUP, group_names
from assay.evaluation._kernel import Metric, build, checked_inputs, finite_or_none
from assay.evaluation.bootstrap import bootstrap_ci


@dataclass(frozen=True, slots=True)
class SliceResult:
    column: str
    slice: str  # the value, or the bin as [low, high)
    count: int
    value: float | None  # None where the metric is undefined on the slice (e.g. one class for ROC AUC)
    low: float | None  # bootstrap interval, when asked for and the slice is not small
    high: float | None
    small: bool


@dataclass(frozen=True, slots=True)
class SliceReport:
    metric: str
    higher_is_better: bool
    overall: float | None
    min_slice_size: int
    slices: tuple[SliceResult, ...]
    worst: tuple[SliceResult, ...]  # up to k slices, worst first, among those not small with a value

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _numeric_bins(values: np.ndarray, n_bins: int) -> tuple[np.ndarray, list[str]]:
    """Quantile-bin labels for a numeric column (NaN goes to `(missing)`), and the bins in order."""
    present = ~np.isnan(values)
    names = np.full(len(values), MISSING_GROUP, dtype=object)
    if not present.any():
        return names, [MISSING_GROUP]
    edges = np.unique(np.quantile(values[present], np.linspace(0.0, 1.0, n_bins + 1)))
    if len(edges) == 1:
        labels = np.array([f"[{edges[0]:.6g}, {edges[0]:.6g}]"], dtype=object)
    else:
        last = len(edges) - 2
        labels = np.array([f"[{edges[i]:.6g}, {edges[i + 1]:.6g}{']' if i == last else ')'}" for i in range(last + 1)], dtype=object)
    which = np.clip(np.searchsorted(edges, values[present], side="right") - 1, 0, len(labels) - 1)
    names[present] = labels[which]
    return names, [str(label) for label in labels] + ([MISSING_GROUP] if not present.all() else [])


def slice_values(values: ArrayLike, *, n_bins: int, what: str) -> tuple[np.ndarray, list[str]]:
    """The slice each row falls in, its value (categorical, boolean) or its quantile bin (numeric), and
    the slices in report order (bins low to high, values sorted, `(missing)` last)."""
    array = np.asarray(values)
    if array.dtype.kind in "iuf":
        return _numeric_bins(array.astype(np.float64), n_bins)
    names = group_names(array, what=what)
    present = sorted(set(names.tolist()) - {MISSING_GROUP})
    return names, present + ([MISSING_GROUP] if MISSING_GROUP in set(names.tolist()) else [])


def slice_metrics(
    metric: str | Metric,
    labels: ArrayLike,
    predictions: ArrayLike,
    slices: Mapping[str, ArrayLike],
    *,
    n_bins: int = 4,
    min_slice_size: int = 30,
    worst_k: int = 5,
    n_resamples: int = 0,
    seed: int = 0,
) -> SliceReport:
    """The metric on every slice of every slice column, and the `worst_k` worst slices.

    With `n_resamples` > 0, each slice that is not small gets a bootstrap interval (seeded by `seed`).
    """
    chosen = Metric.of(metric)
    if not slices:
        raise DataError("no slice columns given", hint="name at least one column to slice by")
    if n_bins < 1:
        raise DataError(f"n_bins must be at least 1, got {n_bins}", hint="use 4 (quartiles) or 10 (deciles)")
    y, f = checked_inputs(chosen, labels, predictions)
    results = []
    for column, values in sorted(slices.items()):
        names, ordered = slice_values(values, n_bins=n_bins, what=f"slice column {column!r}")
        _inputs.same_length(labels=y, **{f"slice column {column!r}": names})
        for name in ordered:
            rows = names == name
            count = int(rows.sum())
            value = finite_or_none(build(chosen, y[rows], f[rows]).full())
            small = count < min_slice_size
            low = high = None
            if n_resamples > 0 and not small and value is not None:
                interval = bootstrap_ci(chosen, y[rows], f[rows], seed=seed, n_resamples=n_resamples)
                low, high = interval.low, interval.high
            results.append(SliceResult(column=column, slice=str(name), count=count, value=value, low=low, high=high, small=small))
    higher = chosen.prefers_higher()
    ranked = sorted((r for r in results if not r.small and r.value is not None), key=lambda r: r.value if higher else -r.value)  # type: ignore[operator]
    return SliceReport(
        metric=chosen.label,
        higher_is_better=higher,
        overall=finite_or_none(build(chosen, y, f).full()),
        min_slice_size=min_slice_size,
        slices=tuple(results),
        worst=tuple(ranked[:worst_k]),
    )


__all__ = ["SliceReport", "SliceResult", "slice_metrics", "slice_values"]
