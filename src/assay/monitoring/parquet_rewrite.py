"""Removing rows from a Parquet file without ever exposing half a file.

The kept rows are written beside the file under a hidden temporary name and renamed over it
(atomic on one filesystem); when no row is kept the file is removed. Readers that list the
folder skip hidden names, so they see the old file or the new one, never a partial write.
The schema, including its metadata (a label file's ingest record), is kept as it was.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


@dataclass(frozen=True, slots=True)
class Rewrite:
    """What removing rows from one file did (or would do)."""

    path: Path
    rows_before: int
    rows_removed: int
    removed_file: bool  # no row was left, so the file is (would be) deleted

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "rows_before": self.rows_before, "rows_removed": self.rows_removed,
                "removed_file": self.removed_file}


def remove_rows(path: Path, select: Callable[[pa.Table], pa.ChunkedArray | pa.Array], *,
                columns: Sequence[str], apply: bool) -> Rewrite | None:
    """Remove the rows for which `select(table)` is true; None when it selects none. `select` sees
    only `columns` (a file without a match is never read whole). With `apply=False` nothing is
    written (a dry run)."""
    mask = pc.fill_null(select(pq.read_table(path, columns=list(columns))), False)
    removed = int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)
    if removed == 0:
        return None
    table = pq.read_table(path)
    kept = table.filter(pc.invert(mask))
    result = Rewrite(path, table.num_rows, removed, kept.num_rows == 0)
    if not apply:
        return result
    if kept.num_rows == 0:
        path.unlink(missing_ok=True)
        return result
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        pq.write_table(kept, temporary, compression="zstd")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return result


__all__ = ["Rewrite", "remove_rows"]
