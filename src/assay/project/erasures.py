"""The erasure list: which entities `assay erase` removed, kept as salted hashes in the audit log,
and how a training run leaves their rows out.

The list is the audit log's `erase` entries: append-only, in the metadata store every process
shares, and free of raw ids. Each entry keeps the salted sha256 of the entity id; one salt per
project (the first erasure's) lets a run hash each distinct entity value once and look it up.
A dataset snapshot is immutable, so a run whose dataset holds erased rows trains on a derived
dataset version without them (`<name>.erased`), recorded like any other: `assay reproduce` and
re-evaluation read that version and need no erasure logic of their own.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import polars as pl

from assay.data.dataset import write_snapshot
from assay.project.workspace import Project
from assay.registry.records import DatasetVersion
from assay.registry.store import MetadataStore

ERASE_ACTION = "erase"
ERASED_SUFFIX = ".erased"
_ALL = 1_000_000_000  # list_audit's limit: every erase entry


@dataclass(frozen=True, slots=True)
class ErasureList:
    """The project's salt and the salted hashes of every erased entity id."""

    salt: str
    hashes: frozenset[str]

    def hash_of(self, entity_id: str) -> str:
        return entity_hash(self.salt, entity_id)

    def contains(self, entity_id: str) -> bool:
        return self.hash_of(entity_id) in self.hashes


def entity_hash(salt: str, entity_id: str) -> str:
    """The salted sha256 of an entity id, as the audit log and the erasure list keep it."""
    return hashlib.sha256(f"{salt}\x00{entity_id}".encode()).hexdigest()


def erasure_list(metadata: MetadataStore) -> ErasureList:
    """Every erasure so far; with no erasure yet, a fresh salt and no hashes."""
    entries = metadata.list_audit(action=ERASE_ACTION, limit=_ALL)
    if not entries:
        return ErasureList(secrets.token_hex(16), frozenset())
    salt = str(entries[0].details["salt"])
    hashes = frozenset(str(e.details["entity_sha256"]) for e in entries if e.details.get("salt") == salt)
    return ErasureList(salt, hashes)


def erased_mask(values: pl.Series, erased: ErasureList) -> pl.Series:
    """True for each value whose entity was erased; values are compared as text (123 and "123" alike)."""
    text = values.cast(pl.String)
    if not erased.hashes:
        return pl.Series(values.name, [False] * len(values), dtype=pl.Boolean)
    distinct = [v for v in text.unique().to_list() if v is not None]
    hit = [v for v in distinct if erased.hash_of(v) in erased.hashes]
    return text.is_in(hit).fill_null(False)


@dataclass(frozen=True, slots=True)
class Exclusion:
    """What a run left out: the dataset it read, the version it trained on, and how many rows."""

    dataset: DatasetVersion  # the version the run trains on (the derived one when rows were dropped)
    source_dataset_id: str
    excluded_rows: int

    def to_dict(self) -> dict[str, object]:
        return {"excluded_rows": self.excluded_rows, "dataset_version": self.dataset.id,
                "source_dataset_version": self.source_dataset_id}


def exclude_erased(project: Project, dataset: DatasetVersion, frame: pl.DataFrame, *,
                   entity_column: str | None) -> tuple[pl.DataFrame, Exclusion]:
    """Drop the rows of erased entities before the split. When some are dropped, the remainder is
    stored as a derived dataset version (same id for the same rows: re-running adds nothing)."""
    if entity_column is None or entity_column not in frame.columns:
        return frame, Exclusion(dataset, dataset.id, 0)
    erased = erasure_list(project.metadata)
    mask = erased_mask(frame.get_column(entity_column), erased)
    dropped = int(mask.sum())
    if dropped == 0:
        return frame, Exclusion(dataset, dataset.id, 0)
    kept = frame.filter(~mask)
    recorded = record_derived(project, dataset, kept, name=dataset.name + ERASED_SUFFIX,
                              checks={"erasure_of": dataset.id, "excluded_rows": dropped},
                              profile_sha256=dataset.profile_sha256)
    return kept, Exclusion(recorded, dataset.id, dropped)


def record_derived(project: Project, source: DatasetVersion, rows: pl.DataFrame, *, name: str,
                   checks: dict[str, Any], profile_sha256: str | None = None) -> DatasetVersion:
    """Store `rows` (what is left of `source` after an erasure) as a snapshot and record it as a
    dataset version derived from `source`: its id follows from the source and the new content."""
    snapshot = write_snapshot(rows, project.scratch_dir)
    try:
        info = project.artifacts.put_file(snapshot)
    finally:
        snapshot.unlink(missing_ok=True)
    digest = hashlib.sha256(f"{source.id}\n{info.sha256}".encode()).hexdigest()
    derived = DatasetVersion(
        id=f"ds-{digest[:16]}", name=name, source_uri=source.source_uri, content_hash=source.content_hash,
        snapshot_sha256=info.sha256, row_count=rows.height, column_count=rows.width, schema=dict(source.schema),
        created_at=project.clock.now(), created_by=project.actor, checks=checks, profile_sha256=profile_sha256,
    )
    return project.metadata.add_dataset(derived)[0]


__all__ = ["ERASED_SUFFIX", "ERASE_ACTION", "ErasureList", "Exclusion", "entity_hash", "erased_mask",
           "erasure_list", "exclude_erased", "record_derived"]
