"""Time check_leakage and each detector on a wide clean dataset; print one JSON line.

    python bench/leakage/workers/time_check.py ROWS FEATURES SEED
(needs src/ and tests/unit/leakage/detect/ on PYTHONPATH; bench.py sets it)
"""

from __future__ import annotations

import json
import sys
import time

from leakage_planting import wide_frame

from assay.leakage.detect import DETECTORS, check_leakage


def main() -> None:
    rows, features, seed = (int(a) for a in sys.argv[1:4])
    train, test, declarations = wide_frame(seed, rows, features)
    check_leakage(train.head(1000), test.head(250), declarations)  # warm-up: first-call costs
    timings = {}
    for detect in DETECTORS:
        started = time.perf_counter()
        detect(train, test, declarations)
        timings[detect.__name__] = time.perf_counter() - started
    started = time.perf_counter()
    report = check_leakage(train, test, declarations)
    total = time.perf_counter() - started
    print(json.dumps({"total_s": total, "detectors_s": timings, "rows": train.height + test.height, "columns": train.width, "findings": len(report.findings)}))


if __name__ == "__main__":
    main()
