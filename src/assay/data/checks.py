"""Schema checks as polars expressions, run batch by batch and accumulated into one report.

`SchemaChecker` is the engine behind both `conform` (one in-memory frame, one batch) and the
streaming scan (`assay.data.scan`): for each batch it casts the columns to the declared types,
counts every check's failures with one vectorised query, and only for a check that failed in
that batch computes the row mask, to keep the failing positions and a few examples. Uniqueness
cannot be decided per batch, so the values of `unique` columns are kept (one column, not the
data) and checked once at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from assay.spec.model import ColumnSchema, ColumnType, DataSchema

POLARS_TYPES: dict[str, pl.DataType] = {
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
MAX_LISTED = 200  # allowed lists up to this long are checked (and profiled) by counting each value
EXAMPLES = 5  # examples (and first failing rows) kept per check
_RAW = "__assay_raw__"
_REASONS = "__assay_reasons__"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check on one column (or the whole batch when column is empty).

    `rows` holds the 0-based positions of the first failing rows (row-level checks only), so a
    message can point at them: in a CSV file with a header, position p is on line p + 2.
    """

    check: str
    column: str
    passed: bool
    message: str
    severity: str = "error"  # "error" fails the ingest; "warning" is recorded only
    failed_count: int = 0
    examples: tuple[str, ...] = ()
    rows: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "column": self.column,
            "passed": self.passed,
            "severity": self.severity,
            "message": self.message,
            "failed_count": self.failed_count,
            "examples": list(self.examples),
            "rows": list(self.rows),
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


# --- casting ---------------------------------------------------------------------


def _whole_or_null(values: pl.Expr) -> pl.Expr:
    """Floats that are whole numbers as Int64; anything with a fraction (or out of range) becomes null."""
    return pl.when(values != values.round(0)).then(None).otherwise(values).cast(pl.Int64, strict=False)


def _cast_text(column: pl.Expr, target: ColumnType, fmt: str | None) -> pl.Expr:
    stripped = column.str.strip_chars()
    text = pl.when(stripped == "").then(None).otherwise(stripped)
    if target == "bool":
        lower = text.str.to_lowercase()
        return pl.when(lower.is_in(_TRUE)).then(True).when(lower.is_in(_FALSE)).then(False).otherwise(None)
    if target == "date":
        return text.str.to_date(format=fmt or "%Y-%m-%d", strict=False)
    if target == "datetime":
        return text.str.to_datetime(format=fmt, time_unit="us", strict=False)
    if target == "int":
        # Exact integers first (no float round trip: ids above 2**53 keep every digit),
        # then "2.0" or "1e3" style values through float, refusing fractions.
        return text.cast(pl.Int64, strict=False).fill_null(_whole_or_null(text.cast(pl.Float64, strict=False)))
    return text.cast(POLARS_TYPES[target], strict=False)


def cast_expr(name: str, source: pl.DataType, target: ColumnType, fmt: str | None = None) -> pl.Expr:
    """Column `name` (of dtype `source`) as the declared type; values that do not fit become null."""
    column = pl.col(name)
    dtype = POLARS_TYPES[target]
    if source == dtype:
        return column
    if source == pl.String:
        expr = _cast_text(column, target, fmt)
    elif target in ("string", "category"):
        expr = column.cast(pl.String)
    elif target == "date" and isinstance(source, pl.Datetime):
        expr = column.dt.date()
    elif target == "int" and (source.is_float() or source.is_decimal()):
        expr = _whole_or_null(column.cast(pl.Float64))
    elif target == "bool" and source.is_numeric():
        expr = pl.when(column == 1).then(True).when(column == 0).then(False).otherwise(None)
    else:
        expr = column.cast(dtype, strict=False)
    return expr.alias(name)


# --- the checker -------------------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    """What one row-level check found so far."""

    count: int = 0
    examples: list[str] = field(default_factory=list)
    positions: list[np.ndarray] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Check:
    check: str
    column: str
    mask: pl.Expr  # True on failing rows
    shown: pl.Expr | None  # the values shown as examples (None: nothing worth showing, e.g. nulls)
    distinct: bool  # show distinct values (allowed, unique) rather than the first failing rows


def stat_name(stat: str, column: str) -> str:
    """The output name of a per-batch statistic; the checks and the profile share these, so a
    statistic both need (a null count, a minimum) is computed once per batch."""
    return f"__{stat}__{column}"


def physical(name: str) -> pl.Expr:
    """Numbers as Float64; dates and datetimes as their integer representation (days, microseconds)."""
    return pl.col(name).to_physical().cast(pl.Float64)


def shared_stats(name: str, column_type: ColumnType, listed: Sequence[str] | None = None) -> dict[str, pl.Expr]:
    """Statistics of one conformed column that both the checks and the profile use.

    min and max ignore NaN but see infinities; `listed` adds the count of each listed value.
    """
    stats = {stat_name("nulls", name): pl.col(name).null_count()}
    if column_type in ("int", "float", "date", "datetime"):
        stats[stat_name("min", name)] = physical(name).min()
        stats[stat_name("max", name)] = physical(name).max()
    if column_type == "bool":
        stats[stat_name("true", name)] = pl.col(name).cast(pl.UInt32).sum()
    elif listed is not None:
        text = pl.col(name).cast(pl.String)
        stats.update({stat_name(f"eq{j}", name): (text == value).sum() for j, value in enumerate(listed)})
    return stats


class SchemaChecker:
    """Cast and check batches of one source against `schema`; `report()` gives the verdict.

    `prepare(source_dtypes)` must be called (the same columns for every batch) before the first
    `cast`. Per batch, `stat_exprs()` are evaluated in one query (the streaming scan adds the
    profile's to it) and `absorb` derives every check's failure count from them: nulls from the
    null count, range from min and max, allowed values from the per-value counts; only a check
    that failed in the batch costs a second look at it, for positions and examples.
    """

    def __init__(self, schema: DataSchema, *, masked: Sequence[str] = ()) -> None:
        self.schema = schema
        self.masked = frozenset(masked)
        self.rows = 0
        self._source: dict[str, pl.DataType] = {}
        self._checks: list[_Check] = []
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._raw_needed: list[str] = []
        self._unique_values: dict[str, list[pl.Series]] = {}
        self._stats: dict[str, pl.Expr] = {}

    # -- set-up

    def prepare(self, source: Mapping[str, pl.DataType]) -> None:
        self._source = dict(source)
        self._checks = []
        self._raw_needed = []
        self._stats = {}
        for name, column in self.schema.columns.items():
            if name in self._source:
                self._plan_column(name, column, self._source[name])
        self._tallies = {(c.check, c.column): _Tally() for c in self._checks}
        self._unique_values = {n: [] for n, c in self.schema.columns.items() if c.unique and n in self._source}

    def _plan_column(self, name: str, column: ColumnSchema, source: pl.DataType) -> None:
        typed = pl.col(name)
        unparsable = pl.lit(False)
        if source != POLARS_TYPES[column.type]:
            raw = pl.col(_RAW + name)
            unparsable = raw.is_not_null() & typed.is_null()
            if source == pl.String:
                unparsable = unparsable & (raw.str.strip_chars() != "")
            self._raw_needed.append(name)
            self._stats[stat_name("unparsable", name)] = unparsable.sum()
        shown_raw = pl.col(_RAW + name) if name in self._raw_needed else typed
        # a type check is listed for every column, even one whose values are already of the type
        self._checks.append(_Check("type", name, unparsable, shown_raw, False))
        allowed = [str(v) for v in column.allowed] if column.allowed is not None else None
        listed = allowed if allowed is not None and len(allowed) <= MAX_LISTED and column.type != "bool" else None
        self._stats.update(shared_stats(name, column.type, listed))
        if not column.nullable:
            self._checks.append(_Check("not_null", name, typed.is_null() & ~unparsable, None, False))
        if column.min is not None or column.max is not None:
            low = (typed < column.min).fill_null(False) if column.min is not None else pl.lit(False)
            high = (typed > column.max).fill_null(False) if column.max is not None else pl.lit(False)
            outside = low | high
            if column.type == "float":  # NaN sorts above every number in polars; it is not out of range
                outside = outside & ~typed.is_nan().fill_null(False)
            self._checks.append(_Check("range", name, outside, typed, False))
        if allowed is not None:
            text = typed.cast(pl.String)
            unknown = text.is_not_null() & ~text.is_in(allowed)
            self._checks.append(_Check("allowed", name, unknown, text, True))
            if listed is None:
                self._stats[stat_name("unlisted", name)] = unknown.sum()

    # -- per batch

    def cast(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The batch in the declared types (schema columns first, in the source's order, then any
        extra columns unchanged), and the working frame the checks run on (typed + raw copies)."""
        exprs = []
        for name in batch.columns:
            column = self.schema.columns.get(name)
            exprs.append(cast_expr(name, self._source[name], column.type, column.format) if column else pl.col(name))
        typed = batch.select(exprs)
        if not self._raw_needed:
            return typed, typed
        raws = [batch.get_column(n).alias(_RAW + n) for n in self._raw_needed]
        return typed, typed.hstack(raws)

    def stat_exprs(self) -> dict[str, pl.Expr]:
        return dict(self._stats)

    def _failures(self, check: _Check, stats: Mapping[str, Any], rows: int) -> int | None:
        """The check's failure count in the batch from the statistics, or None to count the mask."""
        name = check.column
        unparsable = int(stats.get(stat_name("unparsable", name)) or 0)
        if check.check == "type":
            return unparsable
        if check.check == "not_null":
            return int(stats[stat_name("nulls", name)]) - unparsable
        if check.check == "allowed":
            column = self.schema.columns[name]
            if stat_name("unlisted", name) in stats:
                return int(stats[stat_name("unlisted", name)])
            nulls = int(stats[stat_name("nulls", name)])
            listed = sum(int(stats[stat_name(f"eq{j}", name)]) for j in range(len(column.allowed or ())))
            return rows - nulls - listed
        column = self.schema.columns[name]  # range: decided by min and max
        low, high = stats.get(stat_name("min", name)), stats.get(stat_name("max", name))
        if low is None or high is None:
            return 0
        inside = (column.min is None or low >= column.min) and (column.max is None or high <= column.max)
        return 0 if inside else None

    def absorb(self, stats: Mapping[str, Any], work: pl.DataFrame, offset: int) -> None:
        """Add one batch's counts; for checks that failed in it, keep positions and examples."""
        for check in self._checks:
            failed = self._failures(check, stats, work.height)
            if failed == 0:
                continue
            shown = [] if check.shown is None else [check.shown.alias("__shown")]
            detail = work.select(check.mask.alias("__bad"), *shown)
            mask = detail.get_column("__bad").fill_null(False)
            found = np.flatnonzero(mask.to_numpy())
            if not len(found):
                continue
            tally = self._tallies[(check.check, check.column)]
            tally.count += len(found)
            tally.positions.append(found + offset)
            if check.shown is not None and len(tally.examples) < EXAMPLES:
                self._add_examples(tally, detail.get_column("__shown").filter(mask), check.column, check.distinct)
        for name, parts in self._unique_values.items():
            parts.append(work.get_column(name))
        self.rows += work.height

    def row_failures(self, work: pl.DataFrame, *, extra: Sequence[tuple[str, pl.Expr]] = ()) -> pl.Series:
        """Per row of a cast batch (`cast`'s working frame), the row-level checks it fails as
        'check:column; ...', null for a row that passes them all; `extra` adds (label, mask) checks
        of the caller's own. Uniqueness is not among them: it is a property of the whole dataset,
        not of a row."""
        masks = [(f"{c.check}:{c.column}", c.mask) for c in self._checks] + list(extra)
        if not masks:
            return pl.Series(_REASONS, [None] * work.height, dtype=pl.String)
        labels = [pl.when(mask.fill_null(False)).then(pl.lit(label)) for label, mask in masks]
        joined = pl.concat_str(labels, separator="; ", ignore_nulls=True)
        return work.select(pl.when(joined == "").then(None).otherwise(joined).alias(_REASONS)).to_series()

    def _add_examples(self, tally: _Tally, values: pl.Series, column: str, distinct: bool) -> None:
        if distinct:
            values = values.unique(maintain_order=True)
        for value in values.head(EXAMPLES).to_list():
            text = "***" if column in self.masked else repr(value)
            if distinct and text in tally.examples and column not in self.masked:
                continue
            if len(tally.examples) < EXAMPLES:
                tally.examples.append(text)

    # -- verdict

    def report(self) -> ValidationReport:
        results: list[CheckResult] = []
        failing: dict[tuple[str, str], np.ndarray] = {}
        for name in self.schema.columns:
            if name not in self._source:
                results.append(CheckResult("present", name, False, f"column {name!r} is missing from the data"))
        for check in self._checks:
            tally = self._tallies[(check.check, check.column)]
            positions = np.concatenate(tally.positions) if tally.positions else np.array([], dtype=np.int64)
            results.append(self._result(check.check, check.column, tally.count, tuple(tally.examples), positions))
            if tally.count:
                failing[(check.check, check.column)] = positions
        for name, parts in self._unique_values.items():
            values = pl.concat(parts) if parts else pl.Series(name, [], dtype=POLARS_TYPES[self.schema.columns[name].type])
            positions = _duplicated_positions(values)
            examples: list[str] = []
            if len(positions):
                self._add_examples(tally := _Tally(), values.gather(positions), name, True)
                examples = tally.examples
                failing[("unique", name)] = positions
            results.append(self._result("unique", name, len(positions), tuple(examples), positions))
        for name in self._source:
            if name not in self.schema.columns:
                results.append(
                    CheckResult(
                        "unexpected",
                        name,
                        False,
                        f"column {name!r} is not in the schema; it is kept but never used as a feature",
                        severity="warning",
                    )
                )
        results.append(_row_count_check(self.rows, self.schema))
        results.sort(key=lambda r: (r.passed, r.severity != "error", r.column, r.check))
        return ValidationReport(tuple(results), self.rows, self.masked, failing)

    def _result(self, check: str, name: str, count: int, examples: tuple[str, ...], rows: np.ndarray) -> CheckResult:
        column = self.schema.columns[name]
        first = tuple(int(p) for p in rows[:EXAMPLES])
        if check == "type":
            message = f"{count} value(s) are not {column.type}" if count else f"all values parse as {column.type}"
        elif check == "not_null":
            message = f"{count} missing value(s) in a non-nullable column" if count else "no missing values"
        elif check == "range":
            low = column.min if column.min is not None else "-inf"
            high = column.max if column.max is not None else "inf"
            message = f"{count} value(s) outside [{low}, {high}]" if count else f"all values within [{low}, {high}]"
        elif check == "allowed":
            message = f"{count} value(s) not in the allowed set" if count else "all values in the allowed set"
        else:
            message = f"{count} row(s) share a value that must be unique" if count else "all values distinct"
        return CheckResult(check, name, count == 0, message, failed_count=count, examples=examples, rows=first)


def rows_phrase(result: CheckResult) -> str:
    """Where a check failed, for a message: 'rows 2, 8 (0-based; in a CSV with a header, line = row + 2)'."""
    more = ", …" if result.failed_count > len(result.rows) else ""
    return f"rows {', '.join(map(str, result.rows))}{more} (0-based; in a CSV with a header, line = row + 2)"


def _duplicated_positions(values: pl.Series) -> np.ndarray:
    """Positions of the non-null values that occur more than once. Ids usually arrive sorted: then
    one comparison of neighbours decides, instead of hashing every value."""
    present = values.drop_nulls()
    if present.is_sorted():
        if present.len() < 2 or not (present.slice(1) == present.slice(0, present.len() - 1)).any():
            return np.array([], dtype=np.int64)
    elif present.n_unique() == present.len():
        return np.array([], dtype=np.int64)
    return np.flatnonzero((values.is_duplicated() & values.is_not_null()).to_numpy())


def _row_count_check(height: int, schema: DataSchema) -> CheckResult:
    low, high = schema.min_rows, schema.max_rows
    ok = (low is None or height >= low) and (high is None or height <= high)
    bounds = f"[{low if low is not None else 0}, {high if high is not None else 'inf'}]"
    return CheckResult("row_count", "", ok, f"{height} rows; expected {bounds}", failed_count=0 if ok else 1)


def check_frame(frame: pl.DataFrame, schema: DataSchema, *, masked: Sequence[str] = ()) -> tuple[pl.DataFrame, ValidationReport]:
    """Cast and check one in-memory frame (a single batch)."""
    checker = SchemaChecker(schema, masked=masked)
    checker.prepare(frame.schema)
    typed, work = checker.cast(frame)
    exprs = [expr.alias(name) for name, expr in checker.stat_exprs().items()]
    checker.absorb(work.select(exprs).row(0, named=True) if exprs else {}, work, 0)
    return typed, checker.report()


__all__ = [
    "MAX_LISTED",
    "POLARS_TYPES",
    "CheckResult",
    "SchemaChecker",
    "ValidationReport",
    "cast_expr",
    "check_frame",
    "physical",
    "rows_phrase",
    "shared_stats",
    "stat_name",
]
