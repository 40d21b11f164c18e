"""Infer a schema from data, and conform data to a declared schema with every failure reported."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from assay.spec.model import ColumnSchema, ColumnType, DataSchema

_POLARS_TYPES: dict[str, pl.DataType] = {
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "string": pl.String(),
    "category": pl.String(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
}
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
MAX_CATEGORIES = 50
_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check on one column (or the whole batch when column is empty)."""

    check: str
    column: str
    passed: bool
    message: str
    severity: str = "error"  # "error" fails the ingest; "warning" is recorded only
    failed_count: int = 0
    examples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "column": self.column,
            "passed": self.passed,
            "severity": self.severity,
            "message": self.message,
            "failed_count": self.failed_count,
            "examples": list(self.examples),
        }


@dataclass(frozen=True, slots=True)
class ValidationReport:
    results: tuple[CheckResult, ...]
    row_count: int
    masked_columns: frozenset[str] = field(default_factory=frozenset)
    # (check, column) -> 0-based positions of the rows that failed it (row-level checks only)
    failing_rows: Mapping[tuple[str, str], np.ndarray] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed and r.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed and r.severity == "warning"]

    def summary(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "row_count": self.row_count,
            "checks": len(self.results),
            "errors": [r.to_dict() for r in self.errors],
            "warnings": [r.to_dict() for r in self.warnings],
        }


def polars_type(column_type: ColumnType) -> pl.DataType:
    return _POLARS_TYPES[column_type]


def column_type_of(dtype: pl.DataType) -> ColumnType:
    if dtype.is_integer():
        return "int"
    if dtype.is_float() or dtype.is_decimal():
        return "float"
    if dtype == pl.Boolean:
        return "bool"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "category"
    return "string"


_ID_NAME = re.compile(r"(^id$)|([_-]id$)|([a-z0-9]Id$)|(^ID$)|(_ID$)")


def _looks_like_id(name: str) -> bool:
    """`id`, `customer_id`, `order-id`, `customerId`: not `paid` or `valid`."""
    return bool(_ID_NAME.search(name))


def infer_schema(frame: pl.DataFrame, *, unique: Sequence[str] = ()) -> DataSchema:
    """A starting schema for `frame`: types, nullability, non-negative bounds, category sets, unique ids."""
    columns: dict[str, ColumnSchema] = {}
    height = frame.height
    for name in frame.columns:
        series = frame.get_column(name)
        kind = column_type_of(series.dtype)
        nullable = series.null_count() > 0
        extra: dict[str, Any] = {}
        if kind == "string":
            distinct = series.drop_nulls().n_unique()
            if distinct <= MAX_CATEGORIES and distinct <= max(2, height // 20):
                kind = "category"
                extra["allowed"] = sorted(str(v) for v in series.drop_nulls().unique().to_list())
        if kind in ("int", "float"):
            low = series.min()
            if low is not None and low >= 0:  # type: ignore[operator]
                extra["min"] = 0.0
        is_unique = name in unique or (
            kind in ("string", "int") and height > 1 and _looks_like_id(name) and series.n_unique() == height
        )
        columns[name] = ColumnSchema(type=kind, nullable=nullable, unique=is_unique, **extra)
    return DataSchema(columns=columns, min_rows=1)


def _examples(values: pl.Series, masked: bool) -> tuple[str, ...]:
    picked = values.head(_EXAMPLES).to_list()
    return tuple("***" if masked else repr(v) for v in picked)


def _whole_or_null(values: pl.Series) -> pl.Series:
    """Floats that are whole numbers as Int64; anything with a fraction (or out of range) becomes null."""
    fractional = (values != values.round(0)).fill_null(False)
    return values.set(fractional, None).cast(pl.Int64, strict=False)  # type: ignore[arg-type]


def _cast_text(text: pl.Series, target: ColumnType, fmt: str | None) -> pl.Series:
    text = text.str.strip_chars()
    text = text.set(text == "", None) if text.len() else text  # type: ignore[arg-type]
    if target == "bool":
        lower = text.str.to_lowercase()
        mapped = pl.when(lower.is_in(_TRUE)).then(True).when(lower.is_in(_FALSE)).then(False).otherwise(None)
        return pl.select(mapped).to_series().alias(text.name)
    if target == "date":
        return text.str.to_date(format=fmt or "%Y-%m-%d", strict=False)
    if target == "datetime":
        return text.str.to_datetime(format=fmt, time_unit="us", strict=False)
    if target == "int":
        # Exact integers first (no float round trip: ids above 2**53 keep every digit),
        # then "2.0" or "1e3" style values through float, refusing fractions.
        exact = text.cast(pl.Int64, strict=False)
        via_float = _whole_or_null(text.cast(pl.Float64, strict=False))
        return exact.fill_null(via_float)
    return text.cast(_POLARS_TYPES[target], strict=False)


def _cast(series: pl.Series, target: ColumnType, fmt: str | None = None) -> pl.Series:
    """`series` as the declared type; values that do not fit become null (and are reported by the caller)."""
    dtype = _POLARS_TYPES[target]
    if series.dtype == dtype:
        return series
    if series.dtype == pl.String:
        return _cast_text(series, target, fmt)
    if target in ("string", "category"):
        return series.cast(pl.String)
    if target == "date" and isinstance(series.dtype, pl.Datetime):
        return series.dt.date()
    if target == "int" and (series.dtype.is_float() or series.dtype.is_decimal()):
        return _whole_or_null(series.cast(pl.Float64))
    if target == "bool" and series.dtype.is_numeric():
        return pl.select(
            pl.when(series == 1).then(True).when(series == 0).then(False).otherwise(None)
        ).to_series().alias(series.name)
    return series.cast(dtype, strict=False)


def conform(
    frame: pl.DataFrame, schema: DataSchema, *, masked: Sequence[str] = ()
) -> tuple[pl.DataFrame, ValidationReport]:
    """Cast `frame` to the schema's types and run every check. Extra columns are kept and reported.

    Values that cannot be parsed as the declared type are reported (with examples, masked for PII)
    and become nulls in the returned frame; the report then fails, so they never reach training.
    """
    masked_set = frozenset(masked)
    results: list[CheckResult] = []
    failing: dict[tuple[str, str], np.ndarray] = {}
    out: dict[str, pl.Series] = {}
    height = frame.height
    for name, column in schema.columns.items():
        if name not in frame.columns:
            results.append(CheckResult("present", name, False, f"column {name!r} is missing from the data"))
            continue
        raw = frame.get_column(name)
        typed = _cast(raw, column.type, column.format)
        hide = name in masked_set
        bad = raw.is_not_null() & typed.is_null()
        if raw.dtype == pl.String:
            bad = bad & (raw.str.strip_chars() != "")
        bad_count = int(bad.sum())
        results.append(
            CheckResult(
                "type",
                name,
                bad_count == 0,
                f"{bad_count} value(s) are not {column.type}" if bad_count else f"all values parse as {column.type}",
                failed_count=bad_count,
                examples=_examples(raw.filter(bad), hide) if bad_count else (),
            )
        )
        out[name] = typed.alias(name)
        if bad_count:
            failing[("type", name)] = np.flatnonzero(bad.to_numpy())
        for result, mask in _column_checks(name, typed, column, hide, bad):
            results.append(result)
            if not result.passed:
                failing[(result.check, name)] = np.flatnonzero(mask.fill_null(False).to_numpy())
    for name in frame.columns:
        if name not in schema.columns:
            out[name] = frame.get_column(name)
            results.append(
                CheckResult(
                    "unexpected",
                    name,
                    False,
                    f"column {name!r} is not in the schema; it is kept but never used as a feature",
                    severity="warning",
                )
            )
    results.extend(_row_count_checks(height, schema))
    ordered = [n for n in frame.columns if n in out]
    conformed = pl.DataFrame([out[n] for n in ordered]) if ordered else pl.DataFrame()
    results.sort(key=lambda r: (r.passed, r.severity != "error", r.column, r.check))
    return conformed, ValidationReport(tuple(results), height, masked_set, failing)


def _column_checks(
    name: str, typed: pl.Series, column: ColumnSchema, hide: bool, unparsable: pl.Series
) -> list[tuple[CheckResult, pl.Series]]:
    """Each check on one column, with the mask of the rows that fail it."""
    results: list[tuple[CheckResult, pl.Series]] = []
    if not column.nullable:
        nulls = typed.is_null() & ~unparsable
        count = int(nulls.sum())
        results.append(
            (
                CheckResult(
                    "not_null",
                    name,
                    count == 0,
                    f"{count} missing value(s) in a non-nullable column" if count else "no missing values",
                    failed_count=count,
                ),
                nulls,
            )
        )
    if column.min is not None or column.max is not None:
        low_bad = typed < column.min if column.min is not None else pl.Series([False] * typed.len())
        high_bad = typed > column.max if column.max is not None else pl.Series([False] * typed.len())
        out_of_range = (low_bad.fill_null(False) | high_bad.fill_null(False))
        count = int(out_of_range.sum())
        bounds = f"[{column.min if column.min is not None else '-inf'}, {column.max if column.max is not None else 'inf'}]"
        results.append(
            (
                CheckResult(
                    "range",
                    name,
                    count == 0,
                    f"{count} value(s) outside {bounds}" if count else f"all values within {bounds}",
                    failed_count=count,
                    examples=_examples(typed.filter(out_of_range), hide) if count else (),
                ),
                out_of_range,
            )
        )
    if column.allowed is not None:
        allowed = [str(v) for v in column.allowed]
        text = typed.cast(pl.String)
        unknown = text.is_not_null() & ~text.is_in(allowed)
        count = int(unknown.sum())
        results.append(
            (
                CheckResult(
                    "allowed",
                    name,
                    count == 0,
                    f"{count} value(s) not in the allowed set" if count else "all values in the allowed set",
                    failed_count=count,
                    examples=_examples(text.filter(unknown).unique(maintain_order=True), hide) if count else (),
                ),
                unknown,
            )
        )
    if column.unique:
        duplicated = typed.is_duplicated() & typed.is_not_null()
        count = int(duplicated.sum())
        results.append(
            (
                CheckResult(
                    "unique",
                    name,
                    count == 0,
                    f"{count} row(s) share a value that must be unique" if count else "all values distinct",
                    failed_count=count,
                    examples=_examples(typed.filter(duplicated).unique(maintain_order=True), hide) if count else (),
                ),
                duplicated,
            )
        )
    return results


def _row_count_checks(height: int, schema: DataSchema) -> list[CheckResult]:
    low, high = schema.min_rows, schema.max_rows
    ok = (low is None or height >= low) and (high is None or height <= high)
    bounds = f"[{low if low is not None else 0}, {high if high is not None else 'inf'}]"
    return [CheckResult("row_count", "", ok, f"{height} rows; expected {bounds}", failed_count=0 if ok else 1)]


def schema_to_dict(schema: DataSchema) -> dict[str, Any]:
    return schema.model_dump(mode="json", exclude_none=True)


def schema_from_mapping(data: Mapping[str, Any]) -> DataSchema:
    return DataSchema.model_validate(dict(data))


__all__ = [
    "CheckResult",
    "ValidationReport",
    "column_type_of",
    "conform",
    "infer_schema",
    "polars_type",
    "schema_from_mapping",
    "schema_to_dict",
]
