"""Assay's frame-to-frame drift comparison, as a user calls it.

    python assay_compare.py REFERENCE.parquet CURRENT.parquet      (Assay's src/ on PYTHONPATH)

`compare_frames(pl.scan_parquet(reference), pl.scan_parquet(current), policy=DriftPolicy(),
columns=None, categorical=None)`: every column, types inferred, the default policy. The verdicts
are the report's `drifted` list; `to_dict()` is built too (what `--json` output would print), so
the timed work ends where Evidently's ends, with a serialisable result.

If this Assay has no `assay.monitoring.drift.compare_frames` yet, the worker exits with status 4 and
one line on stderr saying so; the benchmark then reports Assay as not available.

Timed (`work_s`): from the scans to having the verdicts.
"""

from __future__ import annotations

import sys
import time

NOT_AVAILABLE = 4

t_import = time.perf_counter()
import polars as pl  # noqa: E402
from common import emit  # noqa: E402

try:
    from assay.monitoring.drift import compare_frames  # noqa: I001 (first-party once the module exists)
    from assay.spec.monitoring import DriftPolicy
except ImportError as exc:
    print(f"not available: this Assay ({getattr(sys.modules.get('assay'), '__file__', '?')}) has no "
          f"assay.monitoring.drift.compare_frames ({exc})", file=sys.stderr)
    raise SystemExit(NOT_AVAILABLE) from None

import_s = time.perf_counter() - t_import


def main() -> None:
    reference_path, current_path = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    report = compare_frames(pl.scan_parquet(reference_path), pl.scan_parquet(current_path), policy=DriftPolicy(),
                            columns=None, categorical=None)
    drifted = sorted(report.drifted)
    document = report.to_dict()
    work_s = time.perf_counter() - t0
    emit({"work_s": work_s, "import_s": import_s, "rows": [document.get("reference_rows"), document.get("rows")],
          "drifted": drifted, "report": document,
          "versions": {"assay": getattr(sys.modules["assay"], "__version__", None),
                       "assay_path": sys.modules["assay"].__file__,
                       "polars": pl.__version__, "polars_threads": pl.thread_pool_size()}})


if __name__ == "__main__":
    main()
