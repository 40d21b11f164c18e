"""Turn a spec's data source into a checked, typed frame and the identity of its dataset version."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from assay.data.schema import ValidationReport, conform, infer_schema, schema_to_dict
from assay.data.source import SourceRef, hash_source, read_source
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


def prepare_dataset(data: DataSpec, *, name: str, base_dir: Path) -> PreparedDataset:
    """Read the source, conform it to the declared schema (or infer one), and run the checks."""
    ref = SourceRef.resolve(data.source, base_dir=base_dir, declared=data.format)
    content_hash, size = hash_source(ref)
    declared = data.data_schema
    if declared is None:
        raw = read_source(ref)
        schema = infer_schema(raw, unique=[data.id] if data.id else [])
    else:
        raw = read_source(ref, as_text=ref.format == "csv")
        schema = declared
    if data.target not in raw.columns:
        raise DataSourceError(
            f"{ref.uri} has no target column {data.target!r}",
            hint=f"set data.target in assay.yaml to one of: {', '.join(raw.columns)}",
        )
    frame, report = conform(raw, schema, masked=data.pii)
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
    )


def write_snapshot(frame: pl.DataFrame, directory: Path) -> Path:
    """Write the frame as Parquet to a temporary file in `directory` (the caller stores and removes it)."""
    directory.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="snapshot-", suffix=".parquet", dir=directory)
    os.close(handle)
    path = Path(name)
    frame.write_parquet(path, compression="zstd", statistics=True)
    return path


def read_snapshot(data: bytes) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(data))


__all__ = ["PreparedDataset", "dataset_version_id", "prepare_dataset", "read_snapshot", "write_snapshot"]
