"""Evidently's default data drift report, as its documentation shows it.

    python evidently_run.py REFERENCE.parquet CURRENT.parquet       (the Evidently virtualenv's python)

Both files are read whole with `pd.read_parquet`, then `Report([DataDriftPreset()]).run(
current_data=current, reference_data=reference)` with every default: column types inferred, the
test per column chosen by Evidently (for these sizes: the normalised Wasserstein distance for
numeric columns, the Jensen-Shannon distance for categorical ones, both with threshold 0.1).

The report is made with `include_tests=True`, the documented way to get an explicit pass/fail per
column: each column's `ValueDrift` then carries a test "Value Drift for column X" whose status is
Evidently's own `drift_detected` (FAIL = drift). Nothing is computed twice for it: the test is
built from the drift result the metric already has. The worker checks that the number of failing
column tests equals the preset's `DriftedColumnsCount` (computed separately, by the legacy
`DatasetDriftMetric`). Per-column scores, methods and thresholds come from the `ValueDrift` metrics.

Timed (`work_s`): from reading the two files to having the verdicts (`snapshot.dict()` included).
"""

from __future__ import annotations

import sys
import time

t_import = time.perf_counter()
import evidently  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy  # noqa: E402
from common import emit, fail  # noqa: E402
from evidently import Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

import_s = time.perf_counter() - t_import

COLUMN_TEST = "Value Drift for column "  # the name of ValueDrift's test, followed by the column


def main() -> None:
    reference_path, current_path = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    read_s = time.perf_counter() - t0
    snapshot = Report([DataDriftPreset()], include_tests=True).run(current_data=current, reference_data=reference)
    run_s = time.perf_counter() - t0 - read_s
    document = snapshot.dict()
    drifted = sorted(test["name"].removeprefix(COLUMN_TEST) for test in document["tests"]
                     if test["name"].startswith(COLUMN_TEST) and test["status"] == "FAIL")
    work_s = time.perf_counter() - t0

    columns: dict[str, dict[str, object]] = {}
    count = None
    for metric in document["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            columns[config["column"]] = {"score": float(metric["value"]), "method": config.get("method"),
                                         "threshold": config.get("threshold"),
                                         "drifted": config["column"] in drifted}
        elif config["type"].endswith(":DriftedColumnsCount"):
            count = int(metric["value"]["count"])
    if count != len(drifted):
        fail(f"Evidently's DriftedColumnsCount says {count}, its per-column verdicts flag {len(drifted)}: {drifted}")
    emit({"work_s": work_s, "read_s": read_s, "run_s": run_s, "verdicts_s": work_s - read_s - run_s,
          "import_s": import_s, "rows": [len(reference), len(current)], "drifted": drifted,
          "drifted_count": count, "columns": columns,
          "versions": {"evidently": evidently.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
                       "pandas": pd.__version__}})


if __name__ == "__main__":
    main()
