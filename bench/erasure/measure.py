"""Decision 0024's measurement: erasing one entity from a 1,000,000-row prediction log (200 hour
files, 100,000 distinct entities), and the training exclusion over 1,000,000 rows with 1 and with
1,000 erased entities.

Standalone (not in the harness): `PYTHONPATH=src python bench/erasure/measure.py`; it writes under
/tmp/assay-bench-erasure and prints one line per measurement.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from assay.monitoring.erasure import _erase_prediction_log
from assay.project.erasures import ErasureList, entity_hash, erased_mask
from assay.serving.predlog import FIXED_SCHEMA

BASE = Path("/tmp/assay-bench-erasure/pred")
HOURS, ROWS, ENTITIES = 200, 5_000, 100_000


def _write_log(rng: np.random.Generator) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for hour in range(HOURS):
        at = start + timedelta(hours=hour)
        folder = BASE / "m" / f"date={at:%Y-%m-%d}" / f"hour={at:%H}"
        folder.mkdir(parents=True)
        entities = [f"CUST-{i:06d}" for i in rng.integers(0, ENTITIES, ROWS)]
        table = pa.table({
            "request_id": pa.array([f"r{hour}-{i}" for i in range(ROWS)], pa.large_string()),
            "row": pa.array(np.zeros(ROWS, np.int32)),
            "at": pa.array([at] * ROWS, pa.timestamp("us", tz="UTC")),
            "model_name": pa.array(["m"] * ROWS, pa.large_string()),
            "model_version": pa.array(np.ones(ROWS, np.int32)),
            "route": pa.array(["production"] * ROWS, pa.large_string()),
            "latency_ms": pa.array(np.ones(ROWS)),
            "fallback": pa.array([False] * ROWS),
            "fallback_reason": pa.array([""] * ROWS, pa.large_string()),
            "entity_id": pa.array(entities, pa.large_string()),
            "output": pa.array([[0.5, 0.5]] * ROWS, pa.large_list(pa.float64())),
            "score": pa.array(np.full(ROWS, 0.5)),
        }, schema=FIXED_SCHEMA)
        pq.write_table(table, folder / "part-bench.parquet", compression="zstd")


def main() -> None:
    rng = np.random.default_rng(0)
    shutil.rmtree(BASE, ignore_errors=True)
    _write_log(rng)
    for apply in (False, True):
        started = time.perf_counter()
        rewrites, _ = _erase_prediction_log(BASE, "CUST-000123", apply=apply)
        elapsed = time.perf_counter() - started
        print(f"erase prediction log apply={apply}: {HOURS * ROWS:,} rows in {HOURS} files, "
              f"{sum(r.rows_removed for r in rewrites)} rows in {len(rewrites)} files, {elapsed:.2f}s")
    values = pl.Series("customer_id", [f"CUST-{i:06d}" for i in rng.integers(0, ENTITIES, 1_000_000)])
    for count in (1, 1000):
        erased = ErasureList("salt", frozenset(entity_hash("salt", f"CUST-{i:06d}") for i in range(count)))
        started = time.perf_counter()
        mask = erased_mask(values, erased)
        elapsed = time.perf_counter() - started
        print(f"training exclusion: 1,000,000 rows, ~{ENTITIES:,} distinct entities, {count} erased: "
              f"{int(mask.sum())} rows dropped, {elapsed:.2f}s")
    shutil.rmtree(BASE.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
