"""Where the current data of a drift check comes from: files, a recorded dataset version, or the
model's prediction log over a time window. Each becomes a lazy polars frame with the model's input
columns under their own names (and `score` when the source has the model's scores).

The prediction log's layout is `<root>/<model name>/date=YYYY-MM-DD/hour=HH/part-*.parquet`, inputs
in `input.<column>` columns, the model's score in `score` (null for multiclass: then the largest
of `output`), written by `assay.serving.predlog` (monitoring reads the files, it does not import
serving). Only the hour folders that overlap the window are scanned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import polars as pl

from assay.data.dataset import read_snapshot
from assay.data.source import SourceRef, data_file_format, list_data_files, read_source
from assay.monitoring.errors import MonitoringSourceError
from assay.project.reference import SCORE_COLUMN
from assay.project.settings import STATE_DIR
from assay.project.workspace import Project
from assay.spec.model import Spec
from assay.serving.predlog import log_files

SourceKind = Literal["file", "dataset", "prediction log"]
LOG_INPUT_PREFIX = "input."
TIME_COLUMN = "at"
_NUMERIC_TYPES = ("int", "float")


@dataclass(frozen=True, slots=True)
class CurrentData:
    """The batch to compare with the reference, and where it came from (for the output)."""

    frame: pl.LazyFrame
    kind: SourceKind
    description: str
    has_scores: bool = False
    since: datetime | None = None  # the prediction log's window
    until: datetime | None = None


# --- files ----------------------------------------------------------------------------


def read_files(url: str) -> pl.LazyFrame:
    """A Parquet or CSV file, a folder of them, or a glob, on any fsspec URL, as one lazy frame.
    Local files are scanned lazily; remote ones are read through fsspec."""
    listed = list_data_files(url)
    frames = []
    for path in listed.paths:
        fmt = data_file_format(path)
        assert fmt is not None  # listed files all have one
        if not listed.local:
            frames.append(read_source(SourceRef(uri=listed.display(path), format=fmt)).lazy())
        elif fmt == "parquet":
            frames.append(pl.scan_parquet(path))
        else:
            frames.append(pl.scan_csv(path, infer_schema_length=10_000, try_parse_dates=True))
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def file_source(url: str, signature: Mapping[str, Any] | None = None) -> CurrentData:
    """Current data from files; conformed to the model's input types when a signature is given."""
    frame = read_files(url)
    names = frame.collect_schema().names()
    if signature is not None:
        frame = conform(frame, signature)
    return CurrentData(frame, "file", url, has_scores=SCORE_COLUMN in names)


# --- dataset versions -------------------------------------------------------------------


def dataset_source(project: Project, dataset_id: str, signature: Mapping[str, Any]) -> CurrentData:
    """Current data from a recorded dataset version's snapshot (verified against its address)."""
    dataset = project.metadata.get_dataset(dataset_id)
    frame = read_snapshot(project.artifacts.get_bytes(dataset.snapshot_sha256)).lazy()
    return CurrentData(conform(frame, signature), "dataset",
                       f"dataset {dataset.id} ({dataset.name})")


# --- a batch scoring job's output ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoredJob:
    """A finished `assay score` job: the model it scored with, and its rows with their scores."""

    model_ref: str
    artifact_sha256: str
    data: CurrentData


def scoring_output_source(url: str, signature: Mapping[str, Any] | None = None) -> ScoredJob:
    """The rows a finished `assay score` job scored, with their scores: the input the job's manifest
    names (checked against the sizes it recorded) joined on `row_index` with the job's parts.
    Quarantined rows were never scored and are left out, as they are from the output."""
    from assay.batch.output import OutputLocation, normalise_url
    from assay.batch.plan import ROW_INDEX

    location = OutputLocation.from_url(normalise_url(url))
    manifest = location.manifest()
    if manifest is None or not manifest.get("complete"):
        raise MonitoringSourceError(
            f"{url} holds no finished scoring job (no complete _assay_manifest.json)",
            hint="point --scoring-output at the --output folder of an `assay score` run that finished "
                 "(run the same `assay score` command again to finish an interrupted one)",
        )
    recorded = manifest["input"]
    files = list_data_files(recorded["url"])
    sizes = {listed_path: int(files.fs.size(listed_path)) for listed_path in files.paths}
    expected = {f["path"]: int(f["bytes"]) for f in recorded["files"]}
    actual = {files.display(path): size for path, size in sizes.items()}
    if actual != expected:
        raise MonitoringSourceError(
            f"the input of the job in {url} ({recorded['url']}) has changed since it was scored",
            hint="compare the current input with --data instead, or score it again with `assay score`",
        )
    rows = read_files(recorded["url"]).with_row_index(ROW_INDEX).with_columns(pl.col(ROW_INDEX).cast(pl.Int64))
    parts = read_files(f"{location.display.rstrip('/')}/part-*.parquet")
    part_columns = parts.collect_schema().names()
    score = pl.col("score") if "score" in part_columns else pl.col("probabilities").arr.max()
    scores = parts.select(pl.col(ROW_INDEX), score.alias(SCORE_COLUMN))
    joined = rows.join(scores, on=ROW_INDEX, how="inner").drop(ROW_INDEX)
    frame = conform(joined, signature) if signature is not None else joined
    model = manifest["model"]
    description = f"scoring job {manifest['job_id']} in {url} ({manifest['totals']['scored']:,} scored rows)"
    return ScoredJob(model["ref"], model["artifact_sha256"], CurrentData(frame, "file", description, has_scores=True))


# --- the prediction log ------------------------------------------------------------------


def log_root(project: Project, spec: Spec) -> Path:
    """The prediction log's folder: serving.prediction_log.path (relative to the project), or
    .assay/predictions."""
    configured = spec.serving.prediction_log.path
    root = Path(configured) if configured else Path(STATE_DIR) / "predictions"
    return root if root.is_absolute() else project.root / root


def log_source(
    root: Path, model_name: str, *, since: datetime, until: datetime, signature: Mapping[str, Any], version: int
) -> CurrentData:
    """The rows the model's prediction log holds with `since <= at < until`, read lazily from the
    hour partitions that overlap the window. Scores count only from `version` answering (not the
    fallback, not another version), so they compare with that version's reference."""
    folder = root / model_name
    files = log_files(folder, since=since, until=until)
    description = f"prediction log {folder}, {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC"
    inputs = [c["name"] for c in signature["inputs"]]
    if not files:
        empty = pl.LazyFrame(schema={TIME_COLUMN: pl.Datetime("us", "UTC"), SCORE_COLUMN: pl.Float64})
        return CurrentData(empty, "prediction log", description, has_scores=True, since=since, until=until)
    scan = pl.concat([pl.scan_parquet(p) for p in files], how="diagonal_relaxed")
    present = set(scan.collect_schema().names())
    window = scan.filter((pl.col(TIME_COLUMN) >= since.astimezone(UTC)) & (pl.col(TIME_COLUMN) < until.astimezone(UTC)))
    answered = (pl.col("model_version") == version) & pl.col("fallback").not_()
    score = pl.coalesce(pl.col("score"), pl.col("output").list.max())
    selected = [
        pl.col(TIME_COLUMN),
        pl.when(answered).then(score).otherwise(None).alias(SCORE_COLUMN),
        *(pl.col(f"{LOG_INPUT_PREFIX}{name}").alias(name) for name in inputs if f"{LOG_INPUT_PREFIX}{name}" in present),
    ]
    frame = conform(window.select(selected), signature)
    return CurrentData(frame, "prediction log", description, has_scores=True, since=since, until=until)


def window_bounds(
    *, since: datetime | None, until: datetime | None, window_s: float, now: datetime
) -> tuple[datetime, datetime]:
    """[since, until): explicit ends win; otherwise the window ends now (or at `until`)."""
    end = _utc(until) if until is not None else now
    start = _utc(since) if since is not None else end - timedelta(seconds=window_s)
    if start >= end:
        raise MonitoringSourceError(
            f"the window is empty: it starts at {start.isoformat()} and ends at {end.isoformat()}",
            hint="pass --since before --until (ISO times such as 2026-11-27T00:00:00Z)",
        )
    return start, end


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- conforming --------------------------------------------------------------------------


def conform(frame: pl.LazyFrame, signature: Mapping[str, Any]) -> pl.LazyFrame:
    """The model's input columns (those present) in the types its reference profile was computed
    on: numbers as numbers, dates and datetimes as such (datetimes in microseconds), categories as
    text. Text that does not parse (a CSV value such as "n/a") becomes null, so it counts as
    missing. Other columns stay as they are."""
    types = frame.collect_schema()
    return frame.with_columns([_conformed(c["name"], c["type"], types[c["name"]])
                               for c in signature["inputs"] if c["name"] in types])


def _conformed(name: str, kind: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    text = isinstance(dtype, (pl.String, pl.Categorical, pl.Enum))
    if kind in _NUMERIC_TYPES:
        return (column.cast(pl.String) if text else column).cast(pl.Float64, strict=False)
    if kind == "date":
        return column.cast(pl.String).str.to_date(strict=False) if text else column.cast(pl.Date, strict=False)
    if kind == "datetime":
        if text:
            return column.cast(pl.String).str.to_datetime(time_unit="us", strict=False)
        return column.cast(pl.Datetime("us", getattr(dtype, "time_zone", None)), strict=False)
    return column.cast(pl.String)


def input_names(signature: Mapping[str, Any]) -> Sequence[str]:
    return [c["name"] for c in signature["inputs"]]


__all__ = [
    "CurrentData",
    "LOG_INPUT_PREFIX",
    "TIME_COLUMN",
    "conform",
    "dataset_source",
    "file_source",
    "input_names",
    "log_root",
    "log_source",
    "read_files",
    "window_bounds",
]
