"""One streaming pass over a source: casts, every schema check and the profile, batch by batch.

Memory stays at about one batch (plus the values of `unique` columns and a bounded sample),
whatever the file's size, so a file larger than memory validates. Per batch, one vectorised
polars query computes every check's failure count and every exact profile statistic: row,
null and NaN counts, min, max, sum and sum of squared deviations (merged across batches with
Chan's formula), category counts, and, against a reference profile, the histogram cut counts
at the reference's edges. Quantiles, and the edges of a new reference profile, come from a
deterministic systematic sample of at most `SAMPLE_ROWS` rows (every k-th row): while the
source has no more rows than that, the sample is the whole source and they are exact too.
See docs/decisions/0011-streaming-validation.md.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from assay.data.checks import MAX_LISTED, SchemaChecker, ValidationReport, physical, shared_stats, stat_name
from assay.data.profile import (
    TOP_CATEGORIES,
    CategoricalProfile,
    ColumnProfile,
    DatasetProfile,
    NumericProfile,
    profile_frame,
    profile_with_edges,
)
from assay.data.source import BATCH_ROWS, CSV_BLOCK_BYTES, SourceRef, columns_mismatch_error, count_rows, iter_batches
from assay.errors import DataSourceError
from assay.spec.model import DataSchema

SAMPLE_ROWS = 100_000  # quantiles and new reference edges come from at most about this many rows
_NUMERIC = frozenset({"int", "float", "date", "datetime"})

BatchHook = Callable[[pl.DataFrame, int, str], None]


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The report of every check, the data's own profile, and its profile on another's edges.

    `profile` is None when not asked for; `compared` is None without `compare_with`.
    """

    report: ValidationReport
    profile: DatasetProfile | None
    compared: DatasetProfile | None
    sample_stride: int  # 1: quantiles and histograms are exact; k: they come from every k-th row
    batches: int
    columns: tuple[str, ...]  # the source's columns, in its order


class _Moments:
    """Exact count, min, max, sum and sum of squared deviations, merged batch by batch
    (a batch's squared deviations are its population variance times its count; batches merge
    with Chan et al.'s pairwise formula)."""

    __slots__ = ("nulls", "nan", "valid", "low", "high", "total", "m2")

    def __init__(self) -> None:
        self.nulls = self.nan = self.valid = 0
        self.low: float | None = None
        self.high: float | None = None
        self.total = self.m2 = 0.0

    def add(self, nulls: int, nan: int, valid: int, low: Any, high: Any, total: Any, variance: Any) -> None:
        self.nulls += nulls
        self.nan += nan
        if not valid:
            return
        total = float(total or 0.0)
        m2 = float(variance or 0.0) * valid
        if self.valid:
            delta = total / valid - self.total / self.valid
            self.m2 += m2 + delta * delta * self.valid * valid / (self.valid + valid)
        else:
            self.m2 = m2
        self.valid += valid
        self.total += total
        self.low = float(low) if self.low is None else min(self.low, float(low))
        self.high = float(high) if self.high is None else max(self.high, float(high))


class ProfileAccumulator:
    """Build a DatasetProfile from batches of conformed rows (see the module docstring)."""

    def __init__(
        self,
        schema: DataSchema,
        columns: Sequence[str],
        *,
        reference: DatasetProfile | None = None,
        bins: int = 20,
        sample_rows: int = SAMPLE_ROWS,
        expected_rows: int | None = None,
        key: str = "p",
    ) -> None:
        self.key = key  # prefix of this accumulator's own statistics in the shared batch query
        self.schema = schema
        self.reference = reference
        self.bins = bins
        self.sample_rows = sample_rows
        # every k-th row; with the row count known up front no thinning is needed later
        self.stride = 1 if not expected_rows else 1 << max(0, math.ceil(math.log2(max(expected_rows / sample_rows, 1.0))))
        present = set(columns)
        if reference is not None:
            names = [n for n in reference.columns if n in present]
            self.plan = {
                n: "categorical" if isinstance(reference.columns[n], CategoricalProfile) else "numeric" for n in names
            }
        else:
            self.plan = {
                n: "numeric" if c.type in _NUMERIC else "categorical"
                for n, c in schema.columns.items()
                if not c.unique and n in present
            }
        self.rows = 0
        self._moments = {n: _Moments() for n, k in self.plan.items() if k == "numeric"}
        self._cuts = {n: np.zeros((2, len(self._edges(n))), dtype=np.int64) for n in self._moments}
        self._listed = {n: self._category_list(n) for n, k in self.plan.items() if k == "categorical"}
        self._counts: dict[str, Counter[str]] = {n: Counter() for n in self._listed}
        self._cat_nulls = dict.fromkeys(self._listed, 0)
        self._sample: list[pl.DataFrame] = []
        self._sampled = 0

    def _edges(self, name: str) -> tuple[float, ...]:
        ref = self.reference.columns[name] if self.reference is not None else None
        return ref.edges if isinstance(ref, NumericProfile) else ()

    def _category_list(self, name: str) -> tuple[str, ...] | None:
        if self.reference is not None:
            ref = self.reference.columns[name]
            assert isinstance(ref, CategoricalProfile)
            return ref.categories
        column = self.schema.columns[name]
        if column.type == "bool":
            return None
        allowed = column.allowed
        return tuple(str(v) for v in allowed) if allowed is not None and len(allowed) <= MAX_LISTED else None

    def stat_exprs(self) -> dict[str, pl.Expr]:
        """The batch statistics the profile needs, by output name (shared names with the checks)."""
        out: dict[str, pl.Expr] = {}
        for index, name in enumerate(self.plan):
            column_type = self._type(name)
            if name in self._moments:
                # Over all values: NaN or an infinity turns sum or variance non-finite, and only
                # then is the batch's column looked at again without them (`_finite_stats`).
                out.update(shared_stats(name, column_type))
                raw = physical(name)
                out[stat_name("sum", name)] = raw.sum()
                out[stat_name("var", name)] = raw.var(ddof=0)
                for j, edge in enumerate(self._edges(name)):
                    out[f"__{self.key}{index}_lt{j}"] = (raw < edge).sum()
                    out[f"__{self.key}{index}_le{j}"] = (raw <= edge).sum()
            elif self.reference is not None:
                out[stat_name("nulls", name)] = pl.col(name).null_count()
                text = pl.col(name).cast(pl.String)
                out.update({f"__{self.key}{index}_ref{j}": (text == v).sum() for j, v in enumerate(self._listed[name] or ())})
            elif column_type == "bool" or self._listed[name] is not None:
                out.update(shared_stats(name, column_type, self._listed[name]))
            else:
                out[stat_name("nulls", name)] = pl.col(name).null_count()
                text = pl.col(name).cast(pl.String).drop_nulls()
                out[f"__{self.key}{index}_vc"] = text.value_counts(name="__n").implode()
        return out

    def _type(self, name: str) -> str:
        column = self.schema.columns.get(name)
        if column is not None:
            return column.type
        return "float" if isinstance(self.reference.columns[name], NumericProfile) else "string"  # type: ignore[union-attr]

    def absorb(self, row: Mapping[str, Any], typed: pl.DataFrame, offset: int) -> None:
        rows = typed.height
        for index, name in enumerate(self.plan):
            nulls = int(row[stat_name("nulls", name)])
            if name in self._moments:
                edges = self._edges(name)
                stats = (
                    int(row[stat_name("nulls", name)]), 0, row[stat_name("min", name)], row[stat_name("max", name)],
                    row[stat_name("sum", name)], row[stat_name("var", name)],
                    [row[f"__{self.key}{index}_lt{j}"] for j in range(len(edges))],
                    [row[f"__{self.key}{index}_le{j}"] for j in range(len(edges))],
                )
                if not _is_finite(stats[4]) or not _is_finite(stats[5]):
                    stats = _finite_stats(typed, name, edges)
                nulls, nonfinite, low, high, total, variance, lt, le = stats
                self._moments[name].add(nulls, nonfinite, rows - nulls - nonfinite, low, high, total, variance)
                self._cuts[name][0] += np.asarray(lt, dtype=np.int64)
                self._cuts[name][1] += np.asarray(le, dtype=np.int64)
                continue
            self._cat_nulls[name] += nulls
            counts = self._counts[name]
            listed = self._listed[name]
            if self.reference is not None:
                for j, value in enumerate(listed or ()):
                    counts[value] += int(row[f"__{self.key}{index}_ref{j}"])
            elif self._type(name) == "bool":
                true = int(row[stat_name("true", name)] or 0)
                counts["true"] += true
                counts["false"] += rows - nulls - true
            elif listed is not None:
                for j, value in enumerate(listed):
                    counts[value] += int(row[stat_name(f"eq{j}", name)])
            else:
                for entry in row[f"__{self.key}{index}_vc"]:
                    counts[str(entry[name])] += int(entry["__n"])
        self._take_sample(typed, offset)
        self.rows += rows

    def _take_sample(self, typed: pl.DataFrame, offset: int) -> None:
        """Keep the rows at positions 0, k, 2k, ... (sample row i is source row i * k)."""
        numeric = [n for n in self.plan if n in self._moments]
        if not numeric:
            return
        first = (-offset) % self.stride
        if first < typed.height:
            picked = typed.select(numeric).gather_every(self.stride, offset=first)
            self._sample.append(picked)
            self._sampled += picked.height
        while self._sampled > 2 * self.sample_rows:  # thin out: keep every other sampled row
            self.stride *= 2
            kept = pl.concat(self._sample).gather_every(2)
            self._sample, self._sampled = [kept], kept.height

    def result(self) -> DatasetProfile:
        sample = pl.concat(self._sample) if self._sample else None
        sampled = self._sample_profile(sample)
        columns: dict[str, ColumnProfile] = {}
        for name, kind in self.plan.items():
            columns[name] = self._numeric(name, sampled) if kind == "numeric" else self._categorical(name)
        return DatasetProfile(row_count=self.rows, columns=columns)

    def _sample_profile(self, sample: pl.DataFrame | None) -> DatasetProfile | None:
        if sample is None:
            return None
        if self.reference is not None:
            subset = DatasetProfile(
                row_count=self.reference.row_count,
                columns={n: self.reference.columns[n] for n in sample.columns},
            )
            return profile_with_edges(sample, subset)
        sub_schema = DataSchema(columns={n: self.schema.columns[n] for n in sample.columns}, min_rows=None)
        return profile_frame(sample, sub_schema, bins=self.bins)

    def _numeric(self, name: str, sampled: DatasetProfile | None) -> NumericProfile:
        moments = self._moments[name]
        from_sample = sampled.columns.get(name) if sampled is not None else None
        assert from_sample is None or isinstance(from_sample, NumericProfile)
        quantiles: tuple[float, ...] = ()
        if moments.valid and from_sample is not None and from_sample.quantiles:
            # the sample's interior quantiles, with the exact extremes at both ends
            quantiles = (moments.low, *from_sample.quantiles[1:-1], moments.high)  # type: ignore[assignment]
        if self.reference is not None:
            edges = self._edges(name)
            histogram = _histogram_from_cuts(self._cuts[name], moments.valid)
        elif from_sample is not None:
            edges = from_sample.edges
            histogram = _scaled(from_sample.histogram, moments.valid)
        else:
            edges, histogram = (), (moments.valid,)
        return NumericProfile(
            count=self.rows,
            null_count=moments.nulls,
            nan_count=moments.nan,
            min=moments.low,
            max=moments.high,
            total=moments.total,
            m2=moments.m2,
            edges=tuple(edges),
            histogram=histogram,
            quantiles=quantiles,
        )

    def _categorical(self, name: str) -> CategoricalProfile:
        counts = self._counts[name]
        nulls = self._cat_nulls[name]
        if self.reference is not None:
            categories = self._listed[name] or ()
        else:
            ranked = sorted(((c, v) for v, c in counts.items() if c > 0), key=lambda cv: (-cv[0], cv[1]))
            categories = tuple(v for _, v in ranked[:TOP_CATEGORIES])
        listed = tuple(counts.get(c, 0) for c in categories)
        return CategoricalProfile(
            count=self.rows,
            null_count=nulls,
            categories=categories,
            counts=listed,
            other_count=self.rows - nulls - sum(listed),  # outside the list (or below the top)
        )


def _is_finite(value: Any) -> bool:
    return value is None or math.isfinite(float(value))


def _finite_stats(typed: pl.DataFrame, name: str, edges: Sequence[float]) -> tuple[Any, ...]:
    """A batch's column statistics over its finite values only (the batch holds NaN or an infinity)."""
    raw = physical(name)
    finite = raw.filter(raw.is_finite())
    exprs = [
        raw.null_count().alias("nulls"),
        raw.is_finite().not_().sum().alias("nonfinite"),
        finite.min().alias("lo"),
        finite.max().alias("hi"),
        finite.sum().alias("total"),
        finite.var(ddof=0).alias("var"),
        *[(finite < e).sum().alias(f"lt{j}") for j, e in enumerate(edges)],
        *[(finite <= e).sum().alias(f"le{j}") for j, e in enumerate(edges)],
    ]
    row = typed.select(exprs).row(0, named=True)
    return (
        int(row["nulls"]), int(row["nonfinite"] or 0), row["lo"], row["hi"], row["total"], row["var"],
        [row[f"lt{j}"] for j in range(len(edges))], [row[f"le{j}"] for j in range(len(edges))],
    )


def _histogram_from_cuts(cuts: np.ndarray, valid: int) -> tuple[int, ...]:
    """Bin counts from the counts of values below / at-or-below each edge (NumericProfile's bins)."""
    lt, le = cuts[0].tolist(), cuts[1].tolist()
    if not lt:
        return (valid,)
    bounds = [0, *lt[: max(len(lt) - 1, 1)], le[-1], valid]
    return tuple(int(bounds[i + 1] - bounds[i]) for i in range(len(bounds) - 1))


def _scaled(histogram: Sequence[int], total: int) -> tuple[int, ...]:
    """A sample's histogram scaled to `total` rows (largest remainders, so it sums exactly)."""
    sampled = sum(histogram)
    if not sampled:
        return (*(0 for _ in histogram[:-1]), total) if histogram else ()
    shares = np.asarray(histogram, dtype=np.float64) * total / sampled
    counts = np.floor(shares).astype(np.int64)
    short = int(total - counts.sum())
    if short:
        order = np.argsort(-(shares - counts), kind="stable")[:short]
        counts[order] += 1
    return tuple(int(c) for c in counts)


def scan_sources(
    refs: Mapping[str, SourceRef],
    schema: DataSchema,
    *,
    masked: Sequence[str] = (),
    profile: bool = True,
    profile_exclude: Sequence[str] = (),
    compare_with: DatasetProfile | None = None,
    on_batch: BatchHook | None = None,
    progress: Callable[[int], None] | None = None,
    batch_rows: int = BATCH_ROWS,
    block_bytes: int = CSV_BLOCK_BYTES,
    sample_rows: int = SAMPLE_ROWS,
) -> ScanResult:
    """Check (and profile) one or more files against `schema` in one streaming pass, as one
    dataset: row positions run on across the files, which must share one header.

    `refs` maps a label (the split of a pre-split file, or "") to each file. The own profile
    leaves out `profile_exclude` (declared PII, say); with `compare_with`, the rows are also
    profiled on that profile's edges and category lists (`compared`), ready for drift statistics.
    `on_batch(typed_batch, offset, label)` sees every conformed batch (to write a snapshot, say);
    `progress(rows_so_far)` is called after each batch.
    """
    checker = SchemaChecker(schema, masked=masked)
    profilers: dict[str, ProfileAccumulator] = {}
    columns: list[str] = []
    dtypes: Any = None
    first_uri = ""
    batches = 0
    counts = [count_rows(ref) for ref in refs.values()]
    expected = sum(c for c in counts if c is not None) if all(c is not None for c in counts) else None
    for label, ref in refs.items():
        seen_in_file = False
        for batch in iter_batches(ref, batch_rows=batch_rows, block_bytes=block_bytes):
            if batches == 0:
                columns, first_uri, dtypes = list(batch.columns), ref.uri, batch.schema
                checker.prepare(batch.schema)
                kept = [c for c in columns if c not in set(profile_exclude)]
                if profile:
                    profilers["own"] = ProfileAccumulator(
                        schema, kept, sample_rows=sample_rows, expected_rows=expected, key="p"
                    )
                if compare_with is not None:
                    profilers["compared"] = ProfileAccumulator(
                        schema, kept, reference=compare_with, sample_rows=sample_rows, expected_rows=expected, key="r"
                    )
            elif not seen_in_file:
                if set(batch.columns) != set(columns):
                    raise columns_mismatch_error(ref.uri, label, first_uri, columns, batch.columns)
                batch = batch.select(columns)
                if batch.schema != dtypes:
                    differ = [c for c in columns if batch.schema[c] != dtypes[c]]
                    raise DataSourceError(
                        f"{ref.uri} ({label}) stores column(s) {', '.join(map(repr, differ))} with other types "
                        f"than {first_uri}: {', '.join(f'{batch.schema[c]} vs {dtypes[c]}' for c in differ)}",
                        hint="export the pre-split files with the same column types (or as CSV, which the schema types)",
                    )
            else:
                batch = batch.select(columns)
            seen_in_file = True
            typed, work = checker.cast(batch)
            stats = checker.stat_exprs()
            for profiler in profilers.values():
                stats |= profiler.stat_exprs()
            row = work.select([e.alias(n) for n, e in stats.items()]).row(0, named=True) if stats else {}
            offset = checker.rows
            checker.absorb(row, work, offset)
            for profiler in profilers.values():
                profiler.absorb(row, typed, offset)
            if on_batch is not None:
                on_batch(typed, offset, label)
            batches += 1
            if progress is not None:
                progress(checker.rows)
        if not seen_in_file:
            raise DataSourceError(f"data source {ref.uri} has a header but no rows", hint="point it at a file with data")
    own, compared = profilers.get("own"), profilers.get("compared")
    return ScanResult(
        report=checker.report(),
        profile=own.result() if own is not None else None,
        compared=compared.result() if compared is not None else None,
        sample_stride=next(iter(profilers.values())).stride if profilers else 1,
        batches=batches,
        columns=tuple(columns),
    )


def scan_source(ref: SourceRef, schema: DataSchema, **options: Any) -> ScanResult:
    """`scan_sources` on one file (same options)."""
    return scan_sources({"": ref}, schema, **options)


__all__ = ["SAMPLE_ROWS", "ProfileAccumulator", "ScanResult", "scan_source", "scan_sources"]
