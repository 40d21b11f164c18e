"""The floor: a hand-written single-pass polars query doing the schema's checks, nothing else.

    python floor.py PATH SAMPLE

One `select` over `pl.scan_parquet(PATH)`, collected with the streaming engine: per column the
null count (non-nullable columns), the counts below min and above max (ranged columns), the
count outside the allowed set (category columns), n_unique for the unique `id`; dtypes are
checked against `collect_schema()`. Fails loudly unless every check passes (the data is clean)
and unless a self-test on a small corrupted frame flags every planted fault.
"""

from __future__ import annotations

import sys
import time

t_import = time.perf_counter()
import polars as pl  # noqa: E402
from common import COLUMNS, PLANTED, corrupt_polars, emit, fail, ranged  # noqa: E402

import_s = time.perf_counter() - t_import

ACCEPTS = {
    "int": lambda d: d.is_integer(),
    "float": lambda d: d.is_float(),
    "bool": lambda d: d == pl.Boolean,
    "datetime": lambda d: isinstance(d, pl.Datetime),
    "date": lambda d: d == pl.Date,
    "category": lambda d: d in (pl.String, pl.Categorical) or isinstance(d, (pl.Categorical, pl.Enum)),
    "string": lambda d: d == pl.String,
}


def check(lf: pl.LazyFrame) -> dict[str, int]:
    """Failure count per check (0 = passes)."""
    schema = lf.collect_schema()
    failures: dict[str, int] = {}
    for name, spec in COLUMNS.items():
        failures[f"{name}:dtype"] = 0 if name in schema and ACCEPTS[spec["type"]](schema[name]) else 1
    exprs: list[pl.Expr] = []
    for name, spec in COLUMNS.items():
        col = pl.col(name)
        if not spec.get("nullable", True):
            exprs.append(col.null_count().alias(f"{name}:nullable"))
        if ranged(spec):
            if "min" in spec:
                exprs.append((col < spec["min"]).sum().alias(f"{name}:below_min"))
            if "max" in spec:
                exprs.append((col > spec["max"]).sum().alias(f"{name}:above_max"))
        if "allowed" in spec:
            exprs.append(col.is_in(spec["allowed"]).not_().sum().alias(f"{name}:allowed"))
        if spec.get("unique"):
            exprs.append((pl.len() - col.n_unique()).alias(f"{name}:unique"))
    exprs.append(pl.len().alias("__rows"))
    row = lf.select(exprs).collect(engine="streaming").row(0, named=True)
    failures.update({k: int(v) for k, v in row.items()})
    return failures


def self_test(sample: str) -> None:
    df = pl.read_parquet(sample)
    df = corrupt_polars(df)
    failures = check(df.lazy())
    flagged = {k.split(":")[0] for k, v in failures.items() if v and not k.startswith("__")}
    if flagged != set(PLANTED):
        fail(f"self-test flagged {sorted(flagged)}, planted {sorted(PLANTED)}")


def main() -> None:
    path = sys.argv[1]
    self_test(sys.argv[2])
    t0 = time.perf_counter()
    failures = check(pl.scan_parquet(path))
    work_s = time.perf_counter() - t0
    rows = failures.pop("__rows")
    bad = {k: v for k, v in failures.items() if v}
    if bad or rows == 0:
        fail(f"the floor query found failures on clean data: {bad} (rows {rows})")
    emit({"work_s": work_s, "import_s": import_s, "rows": rows, "checks": len(failures), "passed": True,
          "polars_version": pl.__version__})


if __name__ == "__main__":
    main()
