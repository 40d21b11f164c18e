"""Assay: `scan_source` (one streaming pass: casts, every schema check and the full profile).

    python assay_scan.py PATH SAMPLE
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

t_import = time.perf_counter()
import polars as pl  # noqa: E402
from common import PLANTED, SCHEMA, corrupt_polars, emit, fail  # noqa: E402

from assay.data.scan import scan_source  # noqa: E402
from assay.data.schema import schema_from_mapping  # noqa: E402
from assay.data.source import SourceRef  # noqa: E402

import_s = time.perf_counter() - t_import


def self_test(sample: str, schema) -> None:  # noqa: ANN001
    df = pl.read_parquet(sample)
    df = corrupt_polars(df)
    with tempfile.TemporaryDirectory(prefix="assay-bench-validate-selftest-") as tmp:
        bad = Path(tmp) / "bad.parquet"
        df.write_parquet(bad)
        result = scan_source(SourceRef.resolve(str(bad), base_dir=Path("/")), schema, profile=True)
    if result.report.passed:
        fail("self-test: scan_source passed a frame with planted faults")
    text = repr(result.report)
    missing = [c for c in PLANTED if c not in text]
    if missing:
        fail(f"self-test: the report does not mention planted faults in {missing}")


def main() -> None:
    path = sys.argv[1]
    schema = schema_from_mapping(SCHEMA)
    self_test(sys.argv[2], schema)
    t0 = time.perf_counter()
    result = scan_source(SourceRef.resolve(str(path), base_dir=Path("/")), schema, profile=True)
    work_s = time.perf_counter() - t0
    if not result.report.passed:
        fail(f"scan_source failed clean data: {result.report!r}"[:4000])
    if result.profile is None:
        fail("scan_source returned no profile")
    emit({"work_s": work_s, "import_s": import_s, "passed": True, "sample_stride": result.sample_stride,
          "batches": result.batches, "profiled_columns": len(result.profile.columns)})


if __name__ == "__main__":
    main()
