"""The `score` benchmark's input: ROWS rows x 25 columns of synthetic loan applications, as Parquet.

    python workers/prepare.py OUT.parquet ROWS SEED [--piece-rows N] [--row-group-rows N]
                              [--prefix OUT_PREFIX.parquet --prefix-rows N]

The demo's own generator (examples/credit/generate.py) makes the rows, PIECE_ROWS at a time (piece
k uses seed SEED + k), so memory follows the piece, not ROWS. Each piece: the target `defaulted`
dropped, the Enum columns cast to String, `application_id` renumbered globally (the generator's ids
restart at 1 in every piece) and `customer_id` prefixed with the piece (its customers are its own),
then 8 float columns `extra_0`..`extra_7` from a seeded numpy generator: 17 + 8 = 25 columns. All
pieces go into ONE Parquet file with row groups of ROW_GROUP_ROWS rows, written under a temporary
name and renamed, so a crash never leaves a partial file. With --prefix, the first PREFIX_ROWS rows
are also written as their own file (same row groups). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

REPO_DIR = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO_DIR / "examples" / "credit"))

from generate import generate  # noqa: E402

EXTRA_COLUMNS = 8


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def piece(index: int, rows: int, offset: int, seed: int) -> pa.Table:
    frame = generate(n_rows=rows, seed=seed + index).drop("defaulted")
    frame = frame.with_columns(
        pl.col(pl.Enum).cast(pl.String),
        pl.concat_str([pl.lit("APP-"), pl.int_range(offset + 1, offset + rows + 1, dtype=pl.Int64)
                       .cast(pl.String).str.zfill(8)]).alias("application_id"),
        (pl.lit(f"CUST-{index:03d}-") + pl.col("customer_id").str.strip_prefix("CUST-")).alias("customer_id"),
    )
    rng = np.random.default_rng([seed, index])
    extra = rng.standard_normal((rows, EXTRA_COLUMNS))
    frame = frame.with_columns(pl.Series(f"extra_{j}", extra[:, j]) for j in range(EXTRA_COLUMNS))
    return frame.to_arrow()


def write(out: Path, rows: int, seed: int, piece_rows: int, row_group_rows: int) -> dict:
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    writer: pq.ParquetWriter | None = None
    t0 = time.perf_counter()
    try:
        done = 0
        index = 0
        while done < rows:
            n = min(piece_rows, rows - done)
            table = piece(index, n, done, seed)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=row_group_rows)
            done += n
            index += 1
            log(f"score: prepare: {done:,}/{rows:,} rows ({time.perf_counter() - t0:.0f} s)")
        assert writer is not None
        writer.close()
        writer = None
        os.replace(tmp, out)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return describe(out, time.perf_counter() - t0)


def write_prefix(source: Path, out: Path, rows: int, row_group_rows: int) -> dict:
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    t0 = time.perf_counter()
    parquet = pq.ParquetFile(source)
    try:
        with pq.ParquetWriter(tmp, parquet.schema_arrow, compression="snappy") as writer:
            left = rows
            for batch in parquet.iter_batches(batch_size=row_group_rows):
                if left <= 0:
                    break
                batch = batch.slice(0, left)
                writer.write_table(pa.Table.from_batches([batch]), row_group_size=row_group_rows)
                left -= batch.num_rows
        if left > 0:
            raise SystemExit(f"{source} has fewer than {rows} rows")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return describe(out, time.perf_counter() - t0)


def describe(path: Path, seconds: float) -> dict:
    meta = pq.ParquetFile(path).metadata
    return {"path": str(path), "rows": meta.num_rows, "columns": meta.num_columns, "row_groups": meta.num_row_groups,
            "bytes": path.stat().st_size, "seconds": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("rows", type=int)
    parser.add_argument("seed", type=int)
    parser.add_argument("--piece-rows", type=int, default=500_000)
    parser.add_argument("--row-group-rows", type=int, default=100_000)
    parser.add_argument("--prefix", type=Path)
    parser.add_argument("--prefix-rows", type=int)
    args = parser.parse_args()
    result: dict = {}
    if not args.out.exists():
        result["input"] = write(args.out, args.rows, args.seed, args.piece_rows, args.row_group_rows)
    else:
        result["input"] = {**describe(args.out, 0.0), "cached": True}
    if args.prefix is not None:
        if not args.prefix.exists():
            result["prefix"] = write_prefix(args.out, args.prefix, args.prefix_rows, args.row_group_rows)
        else:
            result["prefix"] = {**describe(args.prefix, 0.0), "cached": True}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
