"""Infer a schema from data, and conform data to a declared schema with every failure reported."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from assay.data.checks import POLARS_TYPES, CheckResult, ValidationReport, check_frame
from assay.spec.model import ColumnSchema, ColumnType, DataSchema

MAX_CATEGORIES = 50


def polars_type(column_type: ColumnType) -> pl.DataType:
    return POLARS_TYPES[column_type]


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


def conform(
    frame: pl.DataFrame, schema: DataSchema, *, masked: Sequence[str] = ()
) -> tuple[pl.DataFrame, ValidationReport]:
    """Cast `frame` to the schema's types and run every check. Extra columns are kept and reported.

    Values that cannot be parsed as the declared type are reported (with examples, masked for PII)
    and become nulls in the returned frame; the report then fails, so they never reach training.
    The same checker runs batch by batch over a whole file in `assay.data.scan`.
    """
    return check_frame(frame, schema, masked=masked)


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
