"""The ceiling: the registered model's raw in-process predict rate, one thread.

    python workers/raw.py PROJECT_DIR INPUT.parquet MODEL_REF [--rows N] [--piece-rows N]

Loads the model as `assay score` does (`load_registered` in `Project.open`), with every numeric
thread pool limited to 1 (threadpoolctl, on top of OMP_NUM_THREADS=1 from the parent). Reads the
model's input columns from the Parquet input PIECE_ROWS rows at a time (all of it, or the first N
rows), converts each piece with `to_model_frame` OUTSIDE the timed region, then times only
`loaded.predict(X)` over the piece in batches of 1,000 rows and, separately, of 100,000 rows.
Rows/s per mode = rows / summed predict seconds. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from assay.project.calibrated import load_registered
from assay.project.workspace import Project
from assay.training.signature import to_model_frame

BATCHES = {"batch1000": 1_000, "batch100000": 100_000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("project", type=Path)
    parser.add_argument("input", type=Path)
    parser.add_argument("model")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--piece-rows", type=int, default=500_000)
    args = parser.parse_args()

    with threadpool_limits(limits=1), Project.open(args.project) as project:
        t0 = time.perf_counter()
        model = project.resolve_model(args.model)
        loaded = load_registered(project, model)
        load_s = time.perf_counter() - t0
        signature = model.signature
        names = [c["name"] for c in signature["inputs"]]
        seconds = dict.fromkeys(BATCHES, 0.0)
        rows = dict.fromkeys(BATCHES, 0)
        convert_s = 0.0
        limit = args.rows
        parquet = pq.ParquetFile(args.input)
        warmed = False
        for batch in parquet.iter_batches(batch_size=args.piece_rows, columns=names):
            if limit is not None:
                if limit <= 0:
                    break
                batch = batch.slice(0, limit)
                limit -= batch.num_rows
            t = time.perf_counter()
            X = to_model_frame(pl.from_arrow(batch), signature)
            convert_s += time.perf_counter() - t
            if not warmed:  # one untimed call: first-call costs are not the steady rate
                loaded.predict(X.iloc[:1_000])
                warmed = True
            for mode, size in BATCHES.items():
                for start in range(0, len(X), size):
                    part = X.iloc[start : start + size]
                    t = time.perf_counter()
                    loaded.predict(part)
                    seconds[mode] += time.perf_counter() - t
                    rows[mode] += len(part)
            del X
    per_thread = {mode: rows[mode] / seconds[mode] for mode in BATCHES}
    print(json.dumps({"rows_per_s": per_thread, "rows": rows, "predict_s": seconds, "convert_s": convert_s,
                      "load_s": load_s, "inputs": names}))


if __name__ == "__main__":
    main()
