"""Deterministic wide tabular data for the `validate` benchmark: N rows × 25 columns as Parquet.

Columns: `id` (unique int), `event_time` (datetime), `is_active` (bool), 10 floats `f0..f9`
(2% nulls in half of them), 6 ints `i0..i5`, 6 categories `c0..c5` (5-12 levels). Written in
row groups of 1M rows, so generating 10M rows needs about one row group of memory.

    python bench/validate/generate.py ROWS OUT.parquet [--seed N] [--csv OUT.csv]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP = 1_000_000
LEVELS = (5, 6, 8, 9, 10, 12)
START_US = 1_672_531_200_000_000  # 2023-01-01T00:00:00Z


def schema_dict() -> dict:
    """The Assay schema these files satisfy (every check passes on generated data)."""
    columns: dict[str, dict] = {
        "id": {"type": "int", "nullable": False, "unique": True, "min": 0},
        "event_time": {"type": "datetime", "nullable": False},
        "is_active": {"type": "bool", "nullable": False},
    }
    for k in range(10):
        columns[f"f{k}"] = {"type": "float", "nullable": k % 2 == 1, "min": -1000.0, "max": 1000.0}
    for k in range(6):
        columns[f"i{k}"] = {"type": "int", "nullable": False, "min": 0, "max": 1_000_000}
    for k, levels in enumerate(LEVELS):
        columns[f"c{k}"] = {"type": "category", "nullable": False, "allowed": _levels(k, levels)}
    return {"columns": columns, "min_rows": 1}


def _levels(k: int, levels: int) -> list[str]:
    return [f"c{k}_level_{j}" for j in range(levels)]


def _chunk(rng: np.random.Generator, start: int, rows: int) -> pa.Table:
    arrays: dict[str, pa.Array] = {
        "id": pa.array(np.arange(start, start + rows, dtype=np.int64)),
        "event_time": pa.array(START_US + (np.arange(start, start + rows) * 3_000_000), type=pa.timestamp("us")),
        "is_active": pa.array(rng.random(rows) < 0.7),
    }
    for k in range(10):
        values = rng.normal(loc=10.0 * k, scale=5.0 + k, size=rows)
        mask = (rng.random(rows) < 0.02) if k % 2 == 1 else None
        arrays[f"f{k}"] = pa.array(values, mask=mask)
    for k in range(6):
        arrays[f"i{k}"] = pa.array(rng.integers(0, 1000 * (k + 1), size=rows, dtype=np.int64))
    for k, levels in enumerate(LEVELS):
        names = np.array(_levels(k, levels), dtype=object)
        weights = np.arange(levels, 0, -1, dtype=float)
        arrays[f"c{k}"] = pa.array(names[rng.choice(levels, size=rows, p=weights / weights.sum())], type=pa.string())
    return pa.table(arrays)


def generate(rows: int, out: Path, *, seed: int = 7, csv: Path | None = None) -> None:
    rng = np.random.default_rng(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    writer = None
    csv_writer = None
    try:
        for start in range(0, rows, ROW_GROUP):
            table = _chunk(rng, start, min(ROW_GROUP, rows - start))
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=ROW_GROUP)
            if csv is not None:
                import pyarrow.csv as pacsv

                if csv_writer is None:
                    csv_writer = pacsv.CSVWriter(csv, table.schema)
                csv_writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
        if csv_writer is not None:
            csv_writer.close()
    tmp.replace(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args()
    generate(args.rows, args.out, seed=args.seed, csv=args.csv)


if __name__ == "__main__":
    main()
