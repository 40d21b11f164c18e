"""Turn a spec's data source into a checked, typed frame and the identity of its dataset version."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from assay.data.schema import ValidationReport, conform, infer_schema, schema_to_dict
from assay.data.source import SourceRef, columns_mismatch_error, hash_source, iter_batches, read_source
from assay.errors import DataSourceError
from assay.spec.model import DataSchema, DataSpec

SNAPSHOT_FORMAT = "parquet"


@dataclass(frozen=True, slots=True)
class PreparedDataset:
    """A source read, typed and checked; not yet stored."""

    name: str
    version_id: str
    source: SourceRef
    content_hash: str
    size_bytes: int
    schema: DataSchema
    schema_inferred: bool
    frame: pl.DataFrame
    report: ValidationReport
    raw: pl.DataFrame  # the rows as read, before type conversion (what a quarantine keeps)
    sources: Mapping[str, SourceRef] = field(default_factory=dict)  # split -> file, for pre-split data

    def schema_dict(self) -> dict[str, Any]:
        return schema_to_dict(self.schema)


def dataset_version_id(
    name: str, content_hash: str, schema: DataSchema, *, policy: Mapping[str, str] | None = None
) -> str:
    """Same name, same bytes, same schema (and same check policy, which decides which rows are
    kept): same version id. An empty policy leaves the id as it was without one."""
    canonical = json.dumps(schema_to_dict(schema), sort_keys=True, separators=(",", ":"))
    text = f"{name}\n{content_hash}\n{canonical}"
    if policy:
        text += "\n" + json.dumps(dict(policy), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"ds-{digest[:16]}"


SPLIT_COLUMN = "_assay_split"  # which pre-split file a row came from (data.sources)


def source_refs(data: DataSpec, *, base_dir: Path) -> dict[str, SourceRef]:
    """The spec's data files: {"": ref} for one `source`, or one per split for `sources`."""
    if data.sources is None:
        assert data.source is not None  # the spec requires exactly one of the two
        return {"": SourceRef.resolve(data.source, base_dir=base_dir, declared=data.format)}
    named = {"train": data.sources.train, "validation": data.sources.validation, "test": data.sources.test}
    return {
        split: SourceRef.resolve(path, base_dir=base_dir, declared=data.format)
        for split, path in named.items()
        if path is not None
    }


def content_hash_of(refs: Mapping[str, SourceRef]) -> tuple[str, int]:
    """sha256 of the source bytes (one file), or of the split names and their files' hashes."""
    if list(refs) == [""]:
        return hash_source(refs[""])
    digest, size = hashlib.sha256(), 0
    for split, ref in refs.items():
        file_hash, file_size = hash_source(ref)
        digest.update(f"{split}:{file_hash}\n".encode())
        size += file_size
    return digest.hexdigest(), size


def _read_all(refs: Mapping[str, SourceRef], *, typed: bool) -> pl.DataFrame:
    """One frame from every file; pre-split files must have the same columns."""
    frames = {split: read_source(ref, as_text=not typed and ref.format == "csv") for split, ref in refs.items()}
    if list(frames) == [""]:
        return frames[""]
    first_split, first = next(iter(frames.items()))
    for split, frame in frames.items():
        if set(frame.columns) != set(first.columns):
            raise columns_mismatch_error(refs[split].uri, split, refs[first_split].uri, first.columns, frame.columns)
    ordered = [frame.select(first.columns) for frame in frames.values()]
    try:
        combined = pl.concat(ordered, how="vertical_relaxed")
    except pl.exceptions.PolarsError as exc:
        raise DataSourceError(
            f"the pre-split files have columns of incompatible types: {str(exc).splitlines()[0]}",
            hint="declare data.schema so every file is read as text and checked against it",
        ) from exc
    labels = [split for split, frame in frames.items() for _ in range(frame.height)]
    return combined.with_columns(pl.Series(SPLIT_COLUMN, labels, dtype=pl.String))


def prepare_dataset(data: DataSpec, *, name: str, base_dir: Path) -> PreparedDataset:
    """Read the source(s), conform to the declared schema (or infer one), and run the checks.

    With pre-split `sources`, the files are checked together and the frame carries SPLIT_COLUMN.
    """
    refs = source_refs(data, base_dir=base_dir)
    ref = next(iter(refs.values()))
    content_hash, size = content_hash_of(refs)
    declared = data.data_schema
    raw = _read_all(refs, typed=declared is None)
    labels = raw.get_column(SPLIT_COLUMN) if SPLIT_COLUMN in raw.columns else None
    if labels is not None:
        raw = raw.drop(SPLIT_COLUMN)
    schema = declared if declared is not None else infer_schema(raw, unique=[data.id] if data.id else [])
    if data.target not in raw.columns:
        raise DataSourceError(
            f"{ref.uri} has no target column {data.target!r}",
            hint=f"set data.target in assay.yaml to one of: {', '.join(raw.columns)}",
        )
    frame, report = conform(raw, schema, masked=data.pii)
    if labels is not None:
        frame, raw = frame.with_columns(labels), raw.with_columns(labels)
    return PreparedDataset(
        name=name,
        version_id=dataset_version_id(name, content_hash, schema, policy=data.policy),
        source=ref,
        content_hash=content_hash,
        size_bytes=size,
        schema=schema,
        schema_inferred=declared is None,
        frame=frame,
        report=report,
        raw=raw,
        sources={split: r for split, r in refs.items() if split},
    )


class SnapshotWriter:
    """Write typed batches, one after another, as one Parquet file in `directory` (zstd, with
    statistics), under a temporary name; the caller stores the file and removes it. Use as a
    context manager: on an error the partial file is removed."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix="snapshot-", suffix=".parquet", dir=directory)
        os.close(handle)
        self.path = Path(name)
        self.rows = 0
        self.columns: tuple[str, ...] = ()
        self._writer: pq.ParquetWriter | None = None

    def write(self, frame: pl.DataFrame) -> None:
        table = frame.to_arrow()
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="zstd", write_statistics=True)
            self.columns = tuple(frame.columns)
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.rows += frame.height

    def close(self) -> Path:
        if self._writer is None:  # no rows at all: still a valid, empty file
            pl.DataFrame().write_parquet(self.path)
        else:
            self._writer.close()
            self._writer = None
        return self.path

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            if self._writer is not None:
                self._writer.close()
            self.path.unlink(missing_ok=True)


def write_snapshot(frame: pl.DataFrame, directory: Path) -> Path:
    """Write the frame as Parquet to a temporary file in `directory` (the caller stores and removes it)."""
    with SnapshotWriter(directory) as writer:
        writer.write(frame)
        return writer.close()


def read_rows(refs: Mapping[str, SourceRef], positions: Sequence[int]) -> pl.DataFrame:
    """The rows at `positions` (0-based, running on across the files, sorted) exactly as read:
    CSV as text, Parquet in its own types; with SPLIT_COLUMN for pre-split files. Streams."""
    wanted = np.asarray(positions, dtype=np.int64)
    parts: list[pl.DataFrame] = []
    offset = 0
    for split, ref in refs.items():
        for batch in iter_batches(ref):
            inside = wanted[(wanted >= offset) & (wanted < offset + batch.height)] - offset
            if len(inside):
                rows = batch[inside.tolist()]
                parts.append(rows.with_columns(pl.lit(split, dtype=pl.String).alias(SPLIT_COLUMN)) if split else rows)
            offset += batch.height
    return pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame()


def read_snapshot(data: bytes) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(data))


__all__ = [
    "SPLIT_COLUMN",
    "PreparedDataset",
    "SnapshotWriter",
    "content_hash_of",
    "dataset_version_id",
    "prepare_dataset",
    "read_rows",
    "read_snapshot",
    "source_refs",
    "write_snapshot",
]
