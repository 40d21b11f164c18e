"""Delayed labels (ground truth): reading and checking a labels file, and the store each ingest adds
an immutable file to.

A labels file is Parquet or CSV with a key and an outcome. `request_id` mode: a `request_id` column
(and `row`, for requests of several rows; default 0) names the logged prediction exactly.
`entity+time` mode: an entity column and an event-time column; the label belongs to the entity's
latest prediction at or before that time (see `assay.monitoring.labelled`).

The store, `.assay/labels/<model name>/`, holds one Parquet file per ingest, named by its ingest time
and its identity (the file's sha256 with the key mode and column choices), written under a temporary
name and renamed into place. The same file ingested twice is found by its identity and not stored
again. Labels are never edited: a later ingest supersedes earlier labels of the same prediction.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from assay.data.source import SourceRef, hash_source, read_source, uri_for_display
from assay.errors import DataSourceError
from assay.monitoring.errors import MonitoringError
from assay.monitoring.locking import exclusive_lock
from assay.project.settings import STATE_DIR

KeyMode = Literal["request_id", "entity+time"]
KEY_MODES: tuple[KeyMode, ...] = ("request_id", "entity+time")
LABELS_DIR = "labels"
_METADATA_KEY = b"assay.labels"
_EXAMPLES = 5  # offending rows quoted per problem

# What the store keeps of each label: the key (one mode's columns are null), the outcome as
# canonical text (classes are matched as text, numbers parsed at use), and its place in the file.
STORED_SCHEMA = pa.schema([
    ("request_id", pa.large_string()), ("row", pa.int32()), ("entity_id", pa.large_string()),
    ("event_time", pa.timestamp("us", tz="UTC")), ("label", pa.large_string()), ("position", pa.int64()),
])  # fmt: skip


class LabelsFileError(MonitoringError, ValueError):
    """A labels file cannot be read, lacks a key or label column, or has values that do not fit."""

    code = "labels-invalid"


@dataclass(frozen=True, slots=True)
class LabelColumns:
    """Where a labels file keeps each part. `request_id` and `row` have fixed names (the log's)."""

    label: str
    entity: str = "entity_id"
    time: str = "event_time"


@dataclass(frozen=True, slots=True)
class LabelFile:
    """A checked labels file, normalised to `STORED_SCHEMA`, and what identifies it."""

    source: str  # for display: a path, or a URL without its password
    sha256: str  # of the file's bytes
    key: KeyMode
    columns: LabelColumns
    frame: pl.DataFrame

    @property
    def identity(self) -> str:
        """The same bytes read the same way: ingesting it again adds nothing."""
        choice = {"sha256": self.sha256, "key": self.key, "label": self.columns.label}
        if self.key == "entity+time":
            choice |= {"entity": self.columns.entity, "time": self.columns.time}
        return hashlib.sha256(json.dumps(choice, sort_keys=True).encode()).hexdigest()


def canonical_label(value: Any) -> str:
    """A class value as the text labels are stored as: integral numbers without a fraction, booleans
    as true/false, text as it is (so 1, 1.0 and "1" are one class)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_labels_file(
    path: str | Path,
    *,
    key: KeyMode,
    columns: LabelColumns,
    task: str,
    classes: Sequence[Any] | None = None,
) -> LabelFile:
    """Read and check a labels file. Every problem is reported at once, each with up to five rows
    (numbered from 1, the header not counted). `classes`, when given, are the values a
    classification label may take."""
    if key not in KEY_MODES:
        raise LabelsFileError(f"unknown key mode {key!r}", hint=f"use one of {', '.join(KEY_MODES)}")
    text = str(path)
    try:
        ref = SourceRef.resolve(text, base_dir=Path.cwd())
        sha256, _ = hash_source(ref)
        raw = read_source(ref, as_text=True)
    except DataSourceError as exc:
        raise LabelsFileError(f"cannot read the labels file: {exc.message}", hint=exc.hint) from exc
    source = uri_for_display(ref.uri)
    needed = ["request_id"] if key == "request_id" else [columns.entity, columns.time]
    missing = [c for c in [*needed, columns.label] if c not in raw.columns]
    if missing:
        option = {columns.label: "--label-column", columns.entity: "--entity-column", columns.time: "--time-column"}
        hints = [f"{option[c]} names another column" for c in missing if c in option and c != "request_id"]
        raise LabelsFileError(
            f"{source} has no column {', '.join(map(repr, missing))} (its columns: {', '.join(raw.columns)})",
            hint="; ".join(hints) or "add a request_id column (the id the server returned), or use --key entity+time",
        )
    problems: list[str] = []
    frame = raw.with_row_index("position")
    keys = _request_keys(frame, columns, problems) if key == "request_id" else _entity_keys(frame, columns, problems)
    label = _labels(frame.get_column(columns.label), task, classes, problems)
    if problems:
        raise LabelsFileError(
            f"{source} has {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems),
            hint="fix those rows (or choose the right columns) and ingest the file again; nothing was stored",
        )
    normalised = keys.with_columns(label.alias("label"), frame.get_column("position").cast(pl.Int64))
    table = normalised.select(STORED_SCHEMA.names).to_arrow().cast(STORED_SCHEMA)
    return LabelFile(source, sha256, key, columns, pl.from_arrow(table))  # type: ignore[arg-type]


def _rows(mask: pl.Series) -> str:
    """The first offending rows, numbered from 1."""
    found = (mask.arg_true() + 1).to_list()
    shown = ", ".join(map(str, found[:_EXAMPLES]))
    return f"row {shown}" if len(found) == 1 else f"{len(found)} rows ({shown}{', ...' if len(found) > _EXAMPLES else ''})"


def _text(series: pl.Series) -> pl.Series:
    return series.cast(pl.String).str.strip_chars()


def _request_keys(frame: pl.DataFrame, columns: LabelColumns, problems: list[str]) -> pl.DataFrame:
    request = _text(frame.get_column("request_id"))
    empty = request.is_null() | (request == "")
    if empty.any():
        problems.append(f"column 'request_id' is empty in {_rows(empty)}")
    if "row" in frame.columns:
        parsed = _text(frame.get_column("row")).cast(pl.Float64, strict=False)
        bad = (parsed.is_null() | parsed.is_nan() | (parsed < 0) | (parsed >= 2**31) | (parsed != parsed.floor())).fill_null(True)
        if bad.any():
            problems.append(f"column 'row' must be a whole number >= 0 (the row within the request) in {_rows(bad)}")
        row = pl.select(pl.when(pl.lit(bad)).then(0.0).otherwise(pl.lit(parsed))).to_series().cast(pl.Int64)
    else:
        row = pl.Series("row", [0] * frame.height, pl.Int64)
    time = _times(frame, columns.time, required=False, problems=problems)
    return pl.DataFrame({"request_id": request, "row": row.cast(pl.Int32), "entity_id": pl.Series([None] * frame.height, dtype=pl.String),
                         "event_time": time})


def _entity_keys(frame: pl.DataFrame, columns: LabelColumns, problems: list[str]) -> pl.DataFrame:
    entity = _text(frame.get_column(columns.entity))
    empty = entity.is_null() | (entity == "")
    if empty.any():
        problems.append(f"column {columns.entity!r} (the entity) is empty in {_rows(empty)}")
    time = _times(frame, columns.time, required=True, problems=problems)
    return pl.DataFrame({"request_id": pl.Series([None] * frame.height, dtype=pl.String),
                         "row": pl.Series([None] * frame.height, dtype=pl.Int32), "entity_id": entity, "event_time": time})


def _times(frame: pl.DataFrame, column: str, *, required: bool, problems: list[str]) -> pl.Series:
    """Event times in UTC: ISO 8601 text or Parquet dates/datetimes; a time without an offset is UTC."""
    if column not in frame.columns:
        return pl.Series("event_time", [None] * frame.height, pl.Datetime("us", "UTC"))
    given = frame.get_column(column)
    if given.dtype == pl.Date:
        parsed = given.cast(pl.Datetime("us"))
    elif isinstance(given.dtype, pl.Datetime):
        parsed = given.cast(pl.Datetime("us", given.dtype.time_zone))
    else:
        text = _text(given)
        try:  # fast: polars infers one format from the first values
            parsed = text.str.to_datetime(time_unit="us", strict=False)
        except pl.exceptions.PolarsError:
            parsed = pl.Series([None] * len(text), dtype=pl.Datetime("us", "UTC"))
    zone = parsed.dtype.time_zone if isinstance(parsed.dtype, pl.Datetime) else None
    parsed = parsed.dt.replace_time_zone("UTC") if zone is None else parsed.dt.convert_time_zone("UTC")
    if given.dtype == pl.String and (parsed.is_null() & given.is_not_null()).any():  # mixed formats: each value
        text = _text(given)
        parsed = pl.Series([p if p is not None else _iso(t) for p, t in zip(parsed.to_list(), text.to_list(), strict=True)],
                           dtype=pl.Datetime("us", "UTC"))
    unparsed = parsed.is_null() & given.is_not_null()
    if unparsed.any():
        problems.append(f"column {column!r} is not a date or time (ISO 8601, e.g. 2026-03-01T14:00:00Z) in {_rows(unparsed)}")
    if required and given.is_null().any():
        problems.append(f"column {column!r} (the event time) is empty in {_rows(given.is_null())}")
    return parsed.alias("event_time")


def _iso(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _labels(given: pl.Series, task: str, classes: Sequence[Any] | None, problems: list[str]) -> pl.Series:
    name = given.name
    missing = given.is_null() | (_text(given) == "")
    if missing.any():
        problems.append(f"column {name!r} (the label) is empty in {_rows(missing)}: leave unlabelled rows out of the file")
    text = _text(given)
    number = text.cast(pl.Float64, strict=False)
    if task != "classification":
        bad = number.is_null() & ~missing | number.is_nan() | number.is_infinite()
        if bad.any():
            problems.append(f"column {name!r} (the label) must be a finite number in {_rows(bad)}")
        return text
    integral = number.is_not_null() & number.is_finite() & (number == number.floor())
    canonical = (
        pl.DataFrame({"t": text, "n": number, "i": integral})
        .select(pl.when(pl.col("i")).then(pl.col("n").cast(pl.Int64).cast(pl.String))
                .when(pl.col("t").str.to_lowercase().is_in(["true", "false"])).then(pl.col("t").str.to_lowercase())
                .otherwise(pl.col("t")))
        .to_series()
    )
    if classes:
        allowed = [canonical_label(c) for c in classes]
        unknown = ~canonical.is_in(allowed) & ~missing
        if unknown.any():
            seen = sorted(set(canonical.filter(unknown).to_list()))[:_EXAMPLES]
            problems.append(f"column {name!r} has values that are not classes of the model "
                            f"({', '.join(map(repr, seen))}; classes: {', '.join(allowed)}) in {_rows(unknown)}")
    return canonical


# --- the store ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredLabels:
    """One ingest in the store."""

    path: Path
    identity: str
    metadata: dict[str, Any]


class LabelStore:
    """The immutable label files of one model name, in ingest order (oldest first)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("labels-*.parquet") if not p.name.startswith("."))

    def locked(self) -> AbstractContextManager[None]:
        """Hold the store's lock: one ingest at a time decides whether its file is new and stores it."""
        return exclusive_lock(self.folder / ".lock")

    def find(self, identity: str) -> Path | None:
        """The file an earlier ingest of the same labels file stored, if any."""
        return next((p for p in self.files() if p.stem.endswith(f"-{identity}")), None)

    def add(self, labels: LabelFile, *, at: datetime, details: dict[str, Any]) -> StoredLabels:
        """Write the labels as a new file: a temporary name, then a rename (never half a file)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"labels-{at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{labels.identity}.parquet"
        metadata = {"source": labels.source, "sha256": labels.sha256, "key": labels.key,
                    "label_column": labels.columns.label, "ingested_at": at.astimezone(UTC).isoformat(),
                    "rows": labels.frame.height, **details}
        table = labels.frame.to_arrow().cast(STORED_SCHEMA).replace_schema_metadata(
            {_METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()})
        temporary = self.folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            pq.write_table(table, temporary, compression="zstd")
            os.replace(temporary, self.folder / name)
        finally:
            temporary.unlink(missing_ok=True)
        return StoredLabels(self.folder / name, labels.identity, metadata)

    def read(self) -> pl.DataFrame:
        """Every stored label with `ingest`, its file's place in ingest order (0 = oldest)."""
        files = self.files()
        if not files:
            return pl.from_arrow(STORED_SCHEMA.empty_table()).with_columns(pl.lit(0, pl.Int32).alias("ingest"))  # type: ignore[union-attr]
        parts = [pl.read_parquet(p).with_columns(pl.lit(i, pl.Int32).alias("ingest")) for i, p in enumerate(files)]
        return pl.concat(parts, how="vertical_relaxed")

    @staticmethod
    def metadata(path: Path) -> dict[str, Any]:
        raw = (pq.read_schema(path).metadata or {}).get(_METADATA_KEY, b"{}")
        return dict(json.loads(raw))


def label_store(project_root: Path, model_name: str) -> LabelStore:
    """The store of `model_name`'s labels in the project's state folder."""
    return LabelStore(project_root / STATE_DIR / LABELS_DIR / model_name)


__all__ = [
    "KEY_MODES",
    "LABELS_DIR",
    "STORED_SCHEMA",
    "KeyMode",
    "LabelColumns",
    "LabelFile",
    "LabelStore",
    "LabelsFileError",
    "StoredLabels",
    "canonical_label",
    "label_store",
    "read_labels_file",
]
