"""Deterministic reference and current data for the `drift` benchmark, with planted shifts.

Both files have the same 25 columns: 20 numeric `num_00`..`num_19` (normal, log-normal, uniform
and integer columns; 2 % nulls in `num_05` and `num_11`) and 5 string categories `cat_0`..`cat_4`
(4 to 50 levels, skewed frequencies). `current` is drawn from the same distributions as
`reference` with fresh random numbers, except for the planted shifts:

- `num_03`: location shift (normal, mean + 0.75 standard deviations);
- `num_07`: scale shift (normal, standard deviation x 1.8, same mean);
- `num_12`: location and scale shift of a skewed column (log-normal, mu + 0.4, sigma x 1.4);
- `cat_1`:  frequency shift (the same 8 levels, the level weights reversed);
- `cat_3`:  unseen categories (15 % of rows take one of 3 levels the reference never has).

Every planted shift is large by any common yardstick (PSI >= 0.2, Wasserstein distance over the
reference's standard deviation >= 0.1, Jensen-Shannon distance >= 0.1), and the other 20 columns
differ only by sampling noise, so a tool's verdicts can be scored exactly: it should flag the 5
planted columns and nothing else.

Files are written in 250,000-row pieces (one Parquet row group each, snappy), so generating 1M rows
needs a few hundred MB; the same (rows, seed) always gives the same bytes of data.

    python bench/drift/generate.py ROWS DATA_DIR [--seed N]
        (writes DATA_DIR/rows-ROWS-seedN/reference.parquet and current.parquet, prints their description)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

PIECE_ROWS = 250_000
SEED = 20_261_201
NUMERIC = tuple(f"num_{k:02d}" for k in range(20))
CATEGORICAL = tuple(f"cat_{k}" for k in range(5))
LEVELS = (4, 8, 12, 20, 50)  # levels of cat_0..cat_4
NULLABLE = ("num_05", "num_11")
NULL_SHARE = 0.02
UNSEEN_SHARE = 0.15
UNSEEN_LEVELS = 3
# column -> what the current file changes (the benchmark's checks compare verdicts with these keys)
PLANTED = {
    "num_03": "location shift: mean + 0.75 sd",
    "num_07": "scale shift: sd x 1.8",
    "num_12": "log-normal location + scale shift: mu + 0.4, sigma x 1.4",
    "cat_1": "frequency shift: the 8 level weights reversed",
    "cat_3": f"unseen categories: {UNSEEN_SHARE:.0%} of rows in {UNSEEN_LEVELS} new levels",
}


def _levels(k: int) -> list[str]:
    return [f"c{k}_{j:02d}" for j in range(LEVELS[k])]


def _numeric(rng: np.random.Generator, k: int, rows: int, current: bool) -> np.ndarray:
    """Column num_k: normal (0-9), log-normal (10-13), uniform (14-15), integer (16-19)."""
    if k < 10:
        loc, scale = 10.0 * k - 20.0, 1.0 + 0.5 * k
        if current and k == 3:
            loc += 0.75 * scale
        if current and k == 7:
            scale *= 1.8
        return rng.normal(loc, scale, rows)
    if k < 14:
        mu, sigma = 1.0 + 0.25 * (k - 10), 0.5 + 0.1 * (k - 10)
        if current and k == 12:
            mu, sigma = mu + 0.4, sigma * 1.4
        return rng.lognormal(mu, sigma, rows)
    if k < 16:
        return rng.uniform(-100.0 * (k - 13), 100.0 * (k - 13), rows)
    return rng.integers(0, 1_000 * 10 ** (k - 16), rows, dtype=np.int64)


def _categorical(rng: np.random.Generator, k: int, rows: int, current: bool) -> np.ndarray:
    names = np.array(_levels(k), dtype=object)
    weights = 1.0 / np.arange(1, len(names) + 1)  # Zipf-like: a few common levels, a long tail
    if current and k == 1:
        weights = weights[::-1]
    values = names[rng.choice(len(names), size=rows, p=weights / weights.sum())]
    if current and k == 3:
        unseen = np.array([f"c3_new_{j}" for j in range(UNSEEN_LEVELS)], dtype=object)
        swap = rng.random(rows) < UNSEEN_SHARE
        values[swap] = unseen[rng.integers(0, UNSEEN_LEVELS, int(swap.sum()))]
    return values


def _piece(rng: np.random.Generator, rows: int, current: bool) -> pa.Table:
    arrays: dict[str, pa.Array] = {}
    for k, name in enumerate(NUMERIC):
        values = _numeric(rng, k, rows, current)
        mask = rng.random(rows) < NULL_SHARE if name in NULLABLE else None
        arrays[name] = pa.array(values, mask=mask)
    for k, name in enumerate(CATEGORICAL):
        arrays[name] = pa.array(_categorical(rng, k, rows, current), type=pa.string())
    return pa.table(arrays)


def write(path: Path, rows: int, *, seed: int, current: bool) -> None:
    """One file, written under a temporary name and renamed, so a killed run leaves no partial file."""
    rng = np.random.default_rng([seed, int(current)])  # independent streams for the two files
    tmp = path.with_name(path.name + ".tmp")
    writer = None
    try:
        for start in range(0, rows, PIECE_ROWS):
            table = _piece(rng, min(PIECE_ROWS, rows - start), current)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=PIECE_ROWS)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)


def generate(rows: int, data_dir: Path, *, seed: int = SEED) -> dict[str, object]:
    """reference.parquet and current.parquet in `data_dir`/rows-ROWS-seedSEED/ (kept if already
    there: the folder is keyed by everything that shapes the data), and their description."""
    out_dir = data_dir / f"rows-{rows}-seed{seed}"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"reference": out_dir / "reference.parquet", "current": out_dir / "current.parquet"}
    generated = []
    for role, path in paths.items():
        if not path.exists():
            write(path, rows, seed=seed, current=role == "current")
            generated.append(role)
    return {"rows": rows, "seed": seed, "dir": str(out_dir), "generated_now": generated,
            **{role: {"path": str(p), "bytes": p.stat().st_size} for role, p in paths.items()},
            "numeric": list(NUMERIC), "categorical": list(CATEGORICAL), "planted": PLANTED}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    print(json.dumps(generate(args.rows, args.data_dir, seed=args.seed)))


if __name__ == "__main__":
    main()
