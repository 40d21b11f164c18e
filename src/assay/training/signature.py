"""A model's signature (its inputs and outputs) and the one conversion from data to model input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from assay.data.schema import column_type_of
from assay.errors import DataError
from assay.spec.model import DataSchema

CATEGORICAL = ("category", "string")


def build_signature(
    frame: pl.DataFrame,
    features: Sequence[str],
    *,
    schema: DataSchema | None,
    task: str,
    target: str,
    classes: Sequence[Any] | None,
) -> dict[str, Any]:
    """Inputs (name, type, nullable, categories seen in training) and the output the model returns."""
    inputs = []
    for name in features:
        declared = schema.columns.get(name) if schema is not None else None
        kind = declared.type if declared is not None else column_type_of(frame.schema[name])
        entry: dict[str, Any] = {
            "name": name,
            "type": kind,
            "nullable": declared.nullable if declared is not None else bool(frame.get_column(name).null_count()),
        }
        if kind in CATEGORICAL:
            seen = frame.get_column(name).drop_nulls().cast(pl.String).unique().sort().to_list()
            entry["categories"] = seen
        inputs.append(entry)
    if task == "classification":
        output = {"kind": "probability", "target": target, "classes": [_plain(c) for c in classes or []]}
    else:
        output = {"kind": "value", "target": target}
    return {"inputs": inputs, "output": output}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def to_model_frame(frame: pl.DataFrame, signature: Mapping[str, Any]) -> pd.DataFrame:
    """The pandas frame every flavor receives: signature column order, floats for numbers and
    dates (days since epoch), object strings with NaN for missing categories."""
    columns: dict[str, Any] = {}
    missing = [c["name"] for c in signature["inputs"] if c["name"] not in frame.columns]
    if missing:
        raise DataError(
            f"the data lacks model input column(s): {', '.join(missing)}",
            hint="score data with the same columns the model was trained on (see `assay models show`)",
        )
    for column in signature["inputs"]:
        name, kind = column["name"], column["type"]
        series = frame.get_column(name)
        if kind in CATEGORICAL:
            values = series.cast(pl.String).to_numpy().astype(object)
            values[pd.isna(values)] = np.nan
            columns[name] = values
        elif kind == "date":
            columns[name] = series.cast(pl.Date).cast(pl.Int32).cast(pl.Float64).to_numpy()
        elif kind == "datetime":
            columns[name] = (series.cast(pl.Datetime("us")).cast(pl.Int64) / 1_000_000).cast(pl.Float64).to_numpy()
        else:
            columns[name] = series.cast(pl.Float64).to_numpy()
    return pd.DataFrame(columns, columns=[c["name"] for c in signature["inputs"]])


def categorical_columns(signature: Mapping[str, Any]) -> list[str]:
    return [c["name"] for c in signature["inputs"] if c["type"] in CATEGORICAL]


__all__ = ["build_signature", "categorical_columns", "to_model_frame"]
