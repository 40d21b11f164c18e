"""Compact, mergeable reference profiles of a dataset: moments, fixed histograms, quantiles, top categories.

A profile is computed with one lazy polars query and never holds per-row Python objects. Profiles
of batches computed on the same bin edges and category lists (`profile_with_edges`) can be merged:
counts and histograms add, moments merge exactly (Chan et al.), quantile summaries approximately.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from assay.errors import DataError
from assay.spec.model import ColumnType, DataSchema

QUANTILE_POINTS = 101  # the quantile summary holds the values at probabilities 0, 0.01, ..., 1
TOP_CATEGORIES = 100  # categorical profiles keep the most frequent categories, the rest go to `other_count`
FORMAT_VERSION = 1

_NUMERIC_TYPES: frozenset[ColumnType] = frozenset({"int", "float", "date", "datetime"})
Engine = Literal["streaming", "in-memory"]


@dataclass(frozen=True, slots=True)
class NumericProfile:
    """A numeric (or date/time, as its integer representation) column.

    Moments, histogram and quantiles cover the finite values only; nulls and NaN/inf are counted.
    The histogram has open-ended outer bins around the edges: (-inf, e0), [e0, e1), ...,
    [e(m-2), e(m-1)], (e(m-1), inf); with a single edge e the bins are (-inf, e), [e, e], (e, inf).
    """

    count: int  # rows, including nulls and NaN
    null_count: int
    nan_count: int  # NaN and +-inf
    min: float | None
    max: float | None
    total: float  # sum of the finite values (the mergeable form of the mean)
    m2: float  # sum of squared deviations from the mean (the mergeable form of the variance)
    edges: tuple[float, ...]
    histogram: tuple[int, ...]
    quantiles: tuple[float, ...]  # at QUANTILE_POINTS evenly spaced probabilities; () without finite values

    @property
    def valid_count(self) -> int:
        return self.count - self.null_count - self.nan_count

    @property
    def missing_count(self) -> int:
        return self.null_count + self.nan_count

    @property
    def mean(self) -> float | None:
        return self.total / self.valid_count if self.valid_count else None

    @property
    def variance(self) -> float | None:
        """Population variance (ddof=0) of the finite values."""
        return self.m2 / self.valid_count if self.valid_count else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "numeric",
            "count": self.count,
            "null_count": self.null_count,
            "nan_count": self.nan_count,
            "min": self.min,
            "max": self.max,
            "total": self.total,
            "m2": self.m2,
            "edges": list(self.edges),
            "histogram": list(self.histogram),
            "quantiles": list(self.quantiles),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericProfile:
        return cls(
            count=int(data["count"]),
            null_count=int(data["null_count"]),
            nan_count=int(data["nan_count"]),
            min=None if data["min"] is None else float(data["min"]),
            max=None if data["max"] is None else float(data["max"]),
            total=float(data["total"]),
            m2=float(data["m2"]),
            edges=tuple(float(v) for v in data["edges"]),
            histogram=tuple(int(v) for v in data["histogram"]),
            quantiles=tuple(float(v) for v in data["quantiles"]),
        )


@dataclass(frozen=True, slots=True)
class CategoricalProfile:
    """A category, string or bool column: counts of listed categories, the rest in `other_count`.

    From `profile_frame` the list is the top TOP_CATEGORIES by frequency (ties by value) and
    `other_count` holds the rarer values. From `profile_with_edges` the list is the reference's and
    `other_count` holds every value outside it: the "unseen" bucket.
    """

    count: int  # rows, including nulls
    null_count: int
    categories: tuple[str, ...]
    counts: tuple[int, ...]
    other_count: int

    @property
    def valid_count(self) -> int:
        return self.count - self.null_count

    @property
    def missing_count(self) -> int:
        return self.null_count

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "categorical",
            "count": self.count,
            "null_count": self.null_count,
            "categories": list(self.categories),
            "counts": list(self.counts),
            "other_count": self.other_count,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalProfile:
        return cls(
            count=int(data["count"]),
            null_count=int(data["null_count"]),
            categories=tuple(str(v) for v in data["categories"]),
            counts=tuple(int(v) for v in data["counts"]),
            other_count=int(data["other_count"]),
        )


ColumnProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True, slots=True)
class DatasetProfile:
    """Per-column profiles of one batch (columns in schema order; `unique` id columns are left out)."""

    row_count: int
    columns: Mapping[str, ColumnProfile]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "row_count": self.row_count,
            "columns": {name: column.to_dict() for name, column in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetProfile:
        if data.get("format") != FORMAT_VERSION:
            raise DataError(
                f"profile format {data.get('format')!r} is not supported (expected {FORMAT_VERSION})",
                hint="recompute the profile from the dataset version's snapshot",
            )
        columns: dict[str, ColumnProfile] = {}
        for name, column in data["columns"].items():
            kind = column.get("kind")
            if kind == "numeric":
                columns[name] = NumericProfile.from_dict(column)
            elif kind == "categorical":
                columns[name] = CategoricalProfile.from_dict(column)
            else:
                raise DataError(f"column {name!r} has an unknown profile kind {kind!r}", hint="recompute the profile")
        return cls(row_count=int(data["row_count"]), columns=columns)


# --- computing profiles ------------------------------------------------------


def profile_frame(
    frame: pl.DataFrame | pl.LazyFrame, schema: DataSchema, *, bins: int = 20, engine: Engine = "in-memory"
) -> DatasetProfile:
    """Profile `frame` (already conformed to `schema`) as a reference: bin edges at its quantiles.

    Numeric edges are the distinct values of the quantiles at 0, 1/bins, ..., 1 (so up to `bins`
    interior bins, plus the two open-ended outer bins). One lazy query computes everything.
    """
    if bins < 1:
        raise DataError(f"bins must be at least 1, got {bins}", hint="use the default of 20")
    plan = {name: _plan_for(column.type) for name, column in schema.columns.items() if not column.unique}
    edge_points = np.linspace(0.0, 1.0, bins + 1)
    exprs: list[pl.Expr] = [pl.len().alias("__rows")]
    for index, (name, kind) in enumerate(plan.items()):
        if kind == "categorical":
            exprs.extend(_categorical_exprs(name, f"c{index}", None))
        else:
            exprs.extend(_numeric_exprs(name, f"c{index}", edge_points=edge_points))
    row = _collect(frame, plan, exprs, engine)
    columns: dict[str, ColumnProfile] = {}
    for index, (name, kind) in enumerate(plan.items()):
        key = f"c{index}"
        columns[name] = _categorical_from(row, key, None) if kind == "categorical" else _numeric_from(row, key, None)
    return DatasetProfile(row_count=int(row["__rows"]), columns=columns)


def profile_with_edges(
    frame: pl.DataFrame | pl.LazyFrame, reference: DatasetProfile, *, engine: Engine = "in-memory"
) -> DatasetProfile:
    """Profile a new batch on the reference's bin edges and category lists, so histograms compare.

    Values outside the reference's category list are counted in `other_count` (the unseen bucket).
    Columns of the reference that the batch lacks are profiled as all-null.
    """
    exprs: list[pl.Expr] = [pl.len().alias("__rows")]
    plan: dict[str, str] = {}
    present = _column_names(frame)
    for index, (name, ref) in enumerate(reference.columns.items()):
        if name not in present:
            continue
        key = f"c{index}"
        if isinstance(ref, CategoricalProfile):
            plan[name] = "categorical"
            exprs.extend(_categorical_exprs(name, key, ref.categories))
        else:
            plan[name] = "numeric"
            exprs.extend(_numeric_exprs(name, key, edges=ref.edges))
    row = _collect(frame, plan, exprs, engine)
    rows = int(row["__rows"])
    columns: dict[str, ColumnProfile] = {}
    for index, (name, ref) in enumerate(reference.columns.items()):
        key = f"c{index}"
        if name not in present:
            columns[name] = _all_null(ref, rows)
        elif isinstance(ref, CategoricalProfile):
            columns[name] = _categorical_from(row, key, ref.categories)
        else:
            columns[name] = _numeric_from(row, key, ref.edges)
    return DatasetProfile(row_count=rows, columns=columns)


def _plan_for(column_type: ColumnType) -> str:
    return "numeric" if column_type in _NUMERIC_TYPES else "categorical"


def _column_names(frame: pl.DataFrame | pl.LazyFrame) -> set[str]:
    return set(frame.columns if isinstance(frame, pl.DataFrame) else frame.collect_schema().names())


def _collect(
    frame: pl.DataFrame | pl.LazyFrame, plan: Mapping[str, str], exprs: list[pl.Expr], engine: Engine
) -> dict[str, Any]:
    missing = sorted(set(plan) - _column_names(frame))
    if missing:
        raise DataError(
            f"column(s) {', '.join(map(repr, missing))} are in the schema but not in the data",
            hint="profile the conformed frame that `conform` returns",
        )
    query = frame.lazy().select(exprs)
    try:
        try:
            result = query.collect(engine=engine)
        except (TypeError, ValueError) as exc:  # an older polars without this `engine`: its default
            if "engine" not in str(exc):
                raise
            result = query.collect()
    except pl.exceptions.PolarsError as exc:
        raise DataError(
            f"could not profile the data: {exc}", hint="profile the conformed frame that `conform` returns"
        ) from exc
    return result.row(0, named=True)


def _as_float(name: str) -> pl.Expr:
    """Numbers as Float64; dates and datetimes as their integer representation (days, microseconds)."""
    return pl.col(name).to_physical().cast(pl.Float64)


def _numeric_exprs(
    name: str,
    key: str,
    *,
    edge_points: np.ndarray | None = None,
    edges: Sequence[float] | None = None,
) -> list[pl.Expr]:
    """Counts, moments, the quantile summary and the histogram cut counts of one column.

    With `edge_points` (probabilities) the edges are the column's own quantiles there; with `edges`
    they are given. Either way the cut counts (#values < e and #values <= e) come from binary
    searches in the sorted finite values, which the quantile summary needs anyway.
    """
    raw = _as_float(name)
    finite = raw.filter(raw.is_finite()).sort()
    valid = finite.len()
    mean = finite.sum() / valid.cast(pl.Float64)
    exprs = [
        raw.null_count().alias(f"{key}_nulls"),
        raw.is_finite().not_().sum().alias(f"{key}_nan"),  # nulls propagate and are not summed
        finite.min().alias(f"{key}_min"),
        finite.max().alias(f"{key}_max"),
        finite.sum().alias(f"{key}_total"),
        ((finite - mean) ** 2).sum().alias(f"{key}_m2"),
        _quantiles(finite, valid, np.linspace(0.0, 1.0, QUANTILE_POINTS)).implode().alias(f"{key}_q"),
    ]
    if edge_points is not None:
        cuts = _quantiles(finite, valid, edge_points)
        exprs.append(cuts.implode().alias(f"{key}_edges"))
    else:
        cuts = pl.lit(pl.Series(values=list(edges or ()), dtype=pl.Float64))
    exprs.append(finite.search_sorted(cuts, side="left").implode().alias(f"{key}_lt"))
    exprs.append(finite.search_sorted(cuts, side="right").implode().alias(f"{key}_le"))
    return exprs


def _quantiles(sorted_values: pl.Expr, count: pl.Expr, points: np.ndarray) -> pl.Expr:
    """Linearly interpolated quantiles of sorted values at `points`; nulls when there are no values."""
    last = (count.cast(pl.Int64) - 1).clip(lower_bound=0).cast(pl.Float64)
    position = pl.lit(pl.Series(values=points, dtype=pl.Float64)) * last
    low = position.floor()
    weight = position - low
    padded = sorted_values.append(pl.lit(None, dtype=pl.Float64))  # gather(0) on no values gives null
    below = padded.gather(low.cast(pl.Int64))
    above = padded.gather(position.ceil().cast(pl.Int64))
    # Exactly `below` on a knot or between equal neighbours (no inf - inf from extreme values).
    return pl.when((weight == 0) | (above == below)).then(below).otherwise(below + (above - below) * weight)


def _categorical_exprs(name: str, key: str, categories: Sequence[str] | None) -> list[pl.Expr]:
    """Null count and the counts of the top (or the given) categories.

    The top list is sorted inside `list.eval` on the imploded value counts, so the sort keys come
    from the same evaluation as the rows: value_counts' order is arbitrary, and an engine without
    common subexpression elimination (the streaming one) would evaluate it once per use.
    """
    text = pl.col(name).cast(pl.String)
    if categories is None:
        counts = text.drop_nulls().value_counts(name="__n").implode()
        entry = pl.element()
        top = counts.list.eval(
            entry.sort_by([entry.struct.field("__n"), entry.struct.field(name)], descending=[True, False]).head(
                TOP_CATEGORIES
            )
        )
    else:  # values outside the list become null and are not counted (no sort: order does not matter)
        listed = list(categories)
        kept = text.replace_strict(listed, listed, default=None, return_dtype=pl.String)
        top = kept.drop_nulls().value_counts(name="__n").implode()
    return [text.null_count().alias(f"{key}_nulls"), top.alias(f"{key}_top")]


def _numeric_from(row: Mapping[str, Any], key: str, edges: Sequence[float] | None) -> NumericProfile:
    rows = int(row["__rows"])
    nulls = int(row[f"{key}_nulls"])
    nan = int(row[f"{key}_nan"])
    valid = rows - nulls - nan
    lt = [int(v) for v in row[f"{key}_lt"]]
    le = [int(v) for v in row[f"{key}_le"]]
    if edges is None:
        # Quantile edges may repeat (ties, constant columns): keep each distinct value once.
        by_value: dict[float, tuple[int, int]] = {}
        for value, below, at_or_below in zip(row[f"{key}_edges"], lt, le, strict=True):
            if value is not None:
                by_value.setdefault(float(value), (below, at_or_below))
        edges = tuple(sorted(by_value))
        lt = [by_value[e][0] for e in edges]
        le = [by_value[e][1] for e in edges]
    quantiles = tuple(float(v) for v in row[f"{key}_q"] if v is not None) if valid else ()
    return NumericProfile(
        count=rows,
        null_count=nulls,
        nan_count=nan,
        min=None if row[f"{key}_min"] is None else float(row[f"{key}_min"]),
        max=None if row[f"{key}_max"] is None else float(row[f"{key}_max"]),
        total=float(row[f"{key}_total"] or 0.0),
        m2=float(row[f"{key}_m2"] or 0.0) if valid else 0.0,
        edges=tuple(edges),
        histogram=_histogram(lt, le, valid),
        quantiles=quantiles,
    )


def _histogram(lt: Sequence[int], le: Sequence[int], valid: int) -> tuple[int, ...]:
    """Bin counts from cut counts at the edges, with the bins described on NumericProfile."""
    if not lt:
        return (valid,)
    cuts = [*lt[: max(len(lt) - 1, 1)], le[-1]]
    bounds = [0, *cuts, valid]
    return tuple(bounds[i + 1] - bounds[i] for i in range(len(bounds) - 1))


def histogram_bins(edges: Sequence[float]) -> int:
    """How many histogram bins a profile with these edges has."""
    return 1 if not edges else max(len(edges) + 1, 3)


def _categorical_from(row: Mapping[str, Any], key: str, categories: Sequence[str] | None) -> CategoricalProfile:
    rows = int(row["__rows"])
    nulls = int(row[f"{key}_nulls"])
    found = {str(entry[next(iter(entry))]): int(entry["__n"]) for entry in row[f"{key}_top"]}
    if categories is None:
        categories = tuple(found)  # already ordered by frequency, then value
    counts = tuple(found.get(c, 0) for c in categories)
    return CategoricalProfile(
        count=rows,
        null_count=nulls,
        categories=tuple(categories),
        counts=counts,
        other_count=rows - nulls - sum(counts),
    )


def _all_null(reference: ColumnProfile, rows: int) -> ColumnProfile:
    if isinstance(reference, CategoricalProfile):
        return CategoricalProfile(rows, rows, reference.categories, (0,) * len(reference.categories), 0)
    return NumericProfile(
        rows, rows, 0, None, None, 0.0, 0.0, reference.edges, (0,) * histogram_bins(reference.edges), ()
    )


# --- merging -------------------------------------------------------------------


def merge(a: DatasetProfile, b: DatasetProfile) -> DatasetProfile:
    """The profile of both batches together; both must be computed on the same edges and categories.

    Counts and histograms add exactly; mean and variance merge exactly in exact arithmetic (sums
    add, squared deviations by Chan et al.'s pairwise formula). The quantile summary is the
    inverse of the count-weighted mixture of the two piecewise-linear summary CDFs: each summary
    is within 1/(QUANTILE_POINTS - 1) in rank of its own data, so the merged one is too.
    """
    if list(a.columns) != list(b.columns):
        raise DataError(
            f"profiles cover different columns: {sorted(set(a.columns) ^ set(b.columns))}",
            hint="profile both batches with profile_with_edges against the same reference",
        )
    return DatasetProfile(
        row_count=a.row_count + b.row_count,
        columns={name: _merge_column(name, a.columns[name], b.columns[name]) for name in a.columns},
    )


def _mismatch(name: str, what: str) -> DataError:
    return DataError(
        f"column {name!r}: the profiles have different {what}, so they cannot be merged",
        hint="profile both batches with profile_with_edges against the same reference",
    )


def _merge_column(name: str, a: ColumnProfile, b: ColumnProfile) -> ColumnProfile:
    if isinstance(a, CategoricalProfile) and isinstance(b, CategoricalProfile):
        if a.categories != b.categories:
            raise _mismatch(name, "category lists")
        return CategoricalProfile(
            count=a.count + b.count,
            null_count=a.null_count + b.null_count,
            categories=a.categories,
            counts=tuple(x + y for x, y in zip(a.counts, b.counts, strict=True)),
            other_count=a.other_count + b.other_count,
        )
    if isinstance(a, NumericProfile) and isinstance(b, NumericProfile):
        if a.edges != b.edges:
            raise _mismatch(name, "bin edges")
        return _merge_numeric(a, b)
    raise _mismatch(name, "kinds (numeric and categorical)")


def _merge_numeric(a: NumericProfile, b: NumericProfile) -> NumericProfile:
    na, nb = a.valid_count, b.valid_count
    if na and nb:
        delta = b.total / nb - a.total / na
        m2 = a.m2 + b.m2 + delta * delta * na * nb / (na + nb)
    else:
        m2 = a.m2 + b.m2
    return NumericProfile(
        count=a.count + b.count,
        null_count=a.null_count + b.null_count,
        nan_count=a.nan_count + b.nan_count,
        min=_extreme(min, a.min, b.min),
        max=_extreme(max, a.max, b.max),
        total=a.total + b.total,
        m2=m2,
        edges=a.edges,
        histogram=tuple(x + y for x, y in zip(a.histogram, b.histogram, strict=True)),
        quantiles=merge_quantiles(a.quantiles, na, b.quantiles, nb),
    )


def _extreme(pick: Callable[[float, float], float], x: float | None, y: float | None) -> float | None:
    if x is None or y is None:
        return y if x is None else x
    return pick(x, y)


def summary_cdf(
    quantiles: Sequence[float] | np.ndarray, x: np.ndarray, *, side: Literal["right", "left"] = "right"
) -> np.ndarray:
    """The CDF implied by a quantile summary at evenly spaced probabilities, linear between knots.

    side="right" gives F(x); side="left" the left limits F(x-), which differ where knots repeat
    (point masses).
    """
    q = np.asarray(quantiles, dtype=np.float64)
    p = np.linspace(0.0, 1.0, len(q))
    j = np.searchsorted(q, x, side=side)
    out = np.where(j >= len(q), 1.0, 0.0)
    inner = (j > 0) & (j < len(q))
    ji = j[inner]
    lo_q, hi_q, lo_p, hi_p = q[ji - 1], q[ji], p[ji - 1], p[ji]
    span = np.where(hi_q > lo_q, hi_q - lo_q, 1.0)
    out[inner] = lo_p + (hi_p - lo_p) * np.clip((x[inner] - lo_q) / span, 0.0, 1.0)
    return out


def merge_quantiles(
    a: Sequence[float], na: int, b: Sequence[float], nb: int, *, points: int = QUANTILE_POINTS
) -> tuple[float, ...]:
    """Approximate quantile summary of the union of two batches, from their summaries and sizes."""
    if not na or not a:
        return tuple(b)
    if not nb or not b:
        return tuple(a)
    knots = np.unique(np.concatenate([np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)]))
    right = (na * summary_cdf(a, knots) + nb * summary_cdf(b, knots)) / (na + nb)
    left = (na * summary_cdf(a, knots, side="left") + nb * summary_cdf(b, knots, side="left")) / (na + nb)
    result = []
    for target in np.linspace(0.0, 1.0, points):
        j = int(np.searchsorted(right, target - 1e-12, side="left"))
        j = min(j, len(knots) - 1)
        if j == 0 or target >= left[j]:
            result.append(float(knots[j]))
            continue
        start = right[j - 1]
        share = (target - start) / (left[j] - start) if left[j] > start else 1.0
        result.append(float(knots[j - 1] + (knots[j] - knots[j - 1]) * share))
    return tuple(result)


__all__ = [
    "QUANTILE_POINTS",
    "TOP_CATEGORIES",
    "CategoricalProfile",
    "ColumnProfile",
    "DatasetProfile",
    "NumericProfile",
    "histogram_bins",
    "merge",
    "merge_quantiles",
    "profile_frame",
    "profile_with_edges",
    "summary_cdf",
]
