"""The prediction log seen as requests: one entry per request, only the columns SLOs need.

The log holds one row per predicted row; every request has exactly one row with ``row == 0``, so
keeping that row counts requests without a group-by. Only the hour partitions that overlap the
span are opened, and only five columns are read, so one `assay monitor check` reads the longest
burn-rate window once and every window after that is a binary search in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from assay.serving.predlog import log_files

_COLUMNS = ("at", "row", "latency_ms", "fallback", "model_version")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RequestLog:
    """Requests sorted by arrival: `at_us` (microseconds since the epoch, UTC), their latency, whether
    the fallback answered, and the model version that answered (0 for a rule)."""

    at_us: np.ndarray
    latency_ms: np.ndarray
    fallback: np.ndarray
    model_version: np.ndarray

    def __len__(self) -> int:
        return len(self.at_us)

    def bounds(self, since: datetime, until: datetime) -> slice:
        """The requests with `since <= at < until`, as a slice of the sorted arrays."""
        start, stop = np.searchsorted(self.at_us, [to_us(since), to_us(until)], side="left")
        return slice(int(start), int(stop))

    def versions(self, since: datetime, until: datetime) -> dict[int, int]:
        """Requests per answering model version in the window."""
        values, counts = np.unique(self.model_version[self.bounds(since, until)], return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True)}


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of a timezone-aware instant."""
    return (moment.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)


def read_requests(root: Path, *, since: datetime, until: datetime, version: int | None = None) -> RequestLog:
    """The requests logged under `root` (one model's folder of the prediction log) with
    `since <= at < until`; only `version`'s when given. A missing folder is an empty log."""
    files = log_files(root, since=since, until=until)
    if not files:
        return _empty()
    frame = (
        pl.concat([pl.scan_parquet(p).select(_COLUMNS) for p in files], how="vertical_relaxed")
        .filter((pl.col("row") == 0) & (pl.col("at") >= since.astimezone(UTC)) & (pl.col("at") < until.astimezone(UTC)))
    )
    if version is not None:
        frame = frame.filter(pl.col("model_version") == version)
    table = frame.sort("at").collect()
    return RequestLog(
        at_us=table["at"].dt.epoch("us").to_numpy().astype(np.int64),
        latency_ms=table["latency_ms"].fill_null(float("inf")).to_numpy().astype(np.float64),
        fallback=table["fallback"].fill_null(True).to_numpy().astype(bool),
        model_version=table["model_version"].fill_null(0).to_numpy().astype(np.int64),
    )


def _empty() -> RequestLog:
    return RequestLog(np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, bool), np.zeros(0, np.int64))


__all__ = ["RequestLog", "read_requests", "to_us"]
