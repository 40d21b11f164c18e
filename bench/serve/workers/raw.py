"""The `raw` target: the registered model's in-process predict rate, single thread.

    python workers/raw.py PROJECT_DIR DURATION_S

Loads the model as the servers do, takes the first 1,000 rows of the project's CSV (model input
columns), and for DURATION_S each measures rows/s of: predict one row at a time on ready pandas
frames (`row1`), predict 1,000-row frames (`batch1000`), and both again from JSON-shaped rows
(dicts → polars → to_model_frame → predict, what a server does per request: `*_from_json`).
Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model import data_path, open_model  # noqa: E402

from assay.training.signature import to_model_frame  # noqa: E402


def rate(step: Callable[[int], int], duration_s: float) -> float:
    """Rows per second of calling step(i) (which returns the rows it predicted) for duration_s."""
    for i in range(3):  # warm-up
        step(i)
    rows, i, t0 = 0, 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < duration_s:
        rows += step(i)
        i += 1
    return rows / elapsed


def main() -> None:
    project_dir, duration_s = Path(sys.argv[1]), float(sys.argv[2])
    model = open_model(project_dir)
    names = [c["name"] for c in model.inputs]
    frame = pl.read_csv(data_path(project_dir), n_rows=1000, try_parse_dates=True).select(names)
    singles = [to_model_frame(frame.slice(i, 1), model.signature) for i in range(frame.height)]
    batch = to_model_frame(frame, model.signature)
    dicts = frame.with_columns(pl.col(pl.Date, pl.Datetime).cast(pl.String)).to_dicts()

    def row1(i: int) -> int:
        model.loaded.predict(singles[i % len(singles)])
        return 1

    def batch1000(i: int) -> int:
        model.loaded.predict(batch)
        return len(batch)

    def row1_from_json(i: int) -> int:
        model.predict_rows(dicts[i % len(dicts) : i % len(dicts) + 1])
        return 1

    def batch1000_from_json(i: int) -> int:
        model.predict_rows(dicts)
        return len(dicts)

    result = {name: rate(step, duration_s) for name, step in (
        ("row1", row1), ("batch1000", batch1000), ("row1_from_json", row1_from_json),
        ("batch1000_from_json", batch1000_from_json))}
    print(json.dumps({"rows_per_s": result}))


if __name__ == "__main__":
    main()
