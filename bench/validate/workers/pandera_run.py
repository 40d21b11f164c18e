"""pandera doing the schema's checks, with its polars or its pandas backend.

    python pandera_run.py polars|pandas PATH SAMPLE       (the pandera virtualenv's python)

A `DataFrameSchema` with, per column, the dtype, `nullable`, `unique` (id), and `Check.ge`/
`Check.le` (ranged columns) or `Check.isin` (category columns); `validate(df, lazy=True)` so every
check runs and all failures are collected. An in-memory frame (`pl.read_parquet` or
`pd.read_parquet`) is validated, so pandera runs the data-level checks (a polars LazyFrame would
get only schema-level ones; PANDERA_VALIDATION_DEPTH=SCHEMA_AND_DATA is also set by the
benchmark). A self-test on a small corrupted frame confirms each planted fault is caught.
Timed: read + validate.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

BACKEND = sys.argv[1]
t_import = time.perf_counter()
import pandera  # noqa: E402
import pyarrow  # noqa: E402,F401

if BACKEND == "polars":
    import pandera.polars as pa  # noqa: E402
    import polars as frames  # noqa: E402

    DTYPES: dict[str, Any] = {"int": frames.Int64, "float": frames.Float64, "bool": frames.Boolean,
                              "datetime": frames.Datetime("us"), "category": frames.String}
else:
    import pandas as frames  # type: ignore[no-redef]  # noqa: E402

    try:
        import pandera.pandas as pa  # type: ignore[no-redef]  # noqa: E402
    except ImportError:  # pandera < 0.24
        import pandera as pa  # type: ignore[no-redef]  # noqa: E402
    # what pd.read_parquet gives for these Parquet types (pandas >= 3 reads strings as `str`)
    DTYPES = {"int": "int64", "float": "float64", "bool": "bool", "datetime": "datetime64[us]",
              "category": frames.StringDtype(na_value=float("nan"))
              if int(frames.__version__.split(".")[0]) >= 3 else object}
from common import COLUMNS, PLANTED, corrupt_polars, emit, fail  # noqa: E402

import_s = time.perf_counter() - t_import


def build_schema() -> Any:
    columns = {}
    for name, spec in COLUMNS.items():
        checks = []
        if "min" in spec:
            checks.append(pa.Check.ge(spec["min"]))
        if "max" in spec:
            checks.append(pa.Check.le(spec["max"]))
        if "allowed" in spec:
            checks.append(pa.Check.isin(spec["allowed"]))
        columns[name] = pa.Column(DTYPES[spec["type"]], checks=checks, nullable=spec.get("nullable", True),
                                  unique=bool(spec.get("unique")))
    return pa.DataFrameSchema(columns)


def read(path: str) -> Any:
    return frames.read_parquet(path)


def corrupted(sample: str) -> Any:
    if BACKEND == "polars":
        return corrupt_polars(read(sample))
    import polars as pl

    return corrupt_polars(pl.read_parquet(sample)).to_pandas()


def flagged_columns(exc: Any) -> set[str]:
    cases = exc.failure_cases["column"]
    return set(cases.drop_nulls().to_list() if BACKEND == "polars" else cases.dropna().tolist())


def self_test(sample: str, schema: Any) -> None:
    try:
        schema.validate(corrupted(sample), lazy=True)
    except pa.errors.SchemaErrors as exc:
        flagged = flagged_columns(exc)
    else:
        fail("self-test: pandera passed a frame with planted faults")
    if not set(PLANTED) <= flagged:
        fail(f"self-test: pandera flagged {sorted(flagged)}, planted {sorted(PLANTED)}")


def main(validate: Callable[[Any], Any] | None = None) -> None:
    path, sample = sys.argv[2], sys.argv[3]
    schema = build_schema()
    self_test(sample, schema)
    t0 = time.perf_counter()
    df = read(path)
    read_s = time.perf_counter() - t0
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fail(f"pandera failed clean data: {exc}"[:4000])
    work_s = time.perf_counter() - t0
    emit({"work_s": work_s, "read_s": read_s, "validate_s": work_s - read_s, "import_s": import_s,
          "rows": len(df), "passed": True, "pandera_version": pandera.__version__,
          f"{BACKEND}_version": frames.__version__})


if __name__ == "__main__":
    main()
