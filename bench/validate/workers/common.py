"""Shared by the validate workers: the schema (from ../generate.py), corrupting a small frame for
the self-test, and printing the result. Stdlib + the worker's own dataframe library only, so it
runs in the project's interpreter and in the separate pandera virtualenv alike."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generate import schema_dict  # noqa: E402

SCHEMA: dict[str, Any] = schema_dict()
COLUMNS: dict[str, dict[str, Any]] = SCHEMA["columns"]

# One planted fault per check kind, for the self-test every worker runs (untimed) before the
# timed work, on SAMPLE (a separate 1,000-row file from generate.py, so the self-test never
# decodes a 1M-row group of the measured file): a contender that does not flag all of them does
# not really run that check.
# column -> the check kind that the planted value breaks
PLANTED = {
    "id": "unique",        # row 1 gets row 0's id
    "f2": "nullable",      # a null in a non-nullable float column
    "f0": "range",         # 5000.0 > max 1000
    "i1": "range",         # -1 < min 0
    "c0": "allowed",       # a category outside the allowed set
}


def corrupt_polars(df: Any) -> Any:
    """`df` (a polars frame of at least 6 rows) with the PLANTED faults in rows 1-5."""
    import polars as pl

    row = pl.int_range(pl.len())
    return df.with_columns(
        pl.when(row == 1).then(pl.col("id").first()).otherwise(pl.col("id")).alias("id"),
        pl.when(row == 2).then(None).otherwise(pl.col("f2")).alias("f2"),
        pl.when(row == 3).then(5000.0).otherwise(pl.col("f0")).alias("f0"),
        pl.when(row == 4).then(-1).otherwise(pl.col("i1")).alias("i1"),
        pl.when(row == 5).then(pl.lit("bogus")).otherwise(pl.col("c0")).alias("c0"),
    )


def ranged(spec: dict[str, Any]) -> bool:
    return "min" in spec or "max" in spec


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result))


def fail(message: str) -> None:
    print(f"validate worker: WRONG RESULT: {message}", file=sys.stderr)
    raise SystemExit(3)
