"""`assay erase --entity ID`: remove one entity's rows from everything Assay keeps about it
after training, and put the entity on the erasure list so the next training run leaves it out.

Covered: the prediction log (every model's folder), the stored labels (rows keyed by the entity,
and rows keyed by a request row of the entity that was logged), and ingest quarantines (a new
quarantine snapshot without the rows replaces the old one, which is deleted). Dataset snapshots
are immutable and lineage depends on them: they are not rewritten but marked, in the audit entry,
as containing the entity, and `assay train` drops the entity's rows before the split (see
`assay.project.erasures`). Batch-scoring outputs live wherever their users chose and are not
tracked by the project, so they are out of scope (docs/governance.md says what to do).

The audit entry records counts and the salted hash of the id, never the id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from assay.security.identity import Action
from assay.data.dataset import read_snapshot
from assay.errors import ArtifactNotFoundError
from assay.monitoring.errors import MonitoringError
from assay.monitoring.labelled import prediction_log_dir
from assay.monitoring.labels import LABELS_DIR
from assay.monitoring.parquet_rewrite import Rewrite, remove_rows
from assay.project.erasures import ERASE_ACTION, ErasureList, erased_mask, erasure_list, record_derived
from assay.project.settings import STATE_DIR
from assay.project.workspace import Project
from assay.registry.records import DatasetVersion
from assay.spec.model import Spec

QUARANTINE_SUFFIX = ".quarantine"
_ALL = 1_000_000_000


class ErasureError(MonitoringError, ValueError):
    """The entity id cannot be erased as given (empty, or the spec declares no entity column)."""

    code = "erase-invalid"


@dataclass(frozen=True, slots=True)
class ErasureResult:
    """What erasing one entity removed (or, in a dry run, would remove)."""

    entity_sha256: str | None  # None in a dry run before the first erasure (the salt does not exist yet)
    applied: bool
    prediction_log: tuple[Rewrite, ...]
    labels: tuple[Rewrite, ...]
    quarantines: dict[str, tuple[int, str | None]] = field(default_factory=dict)  # version -> (rows, replacement)
    dataset_versions: dict[str, int] = field(default_factory=dict)  # version -> rows of the entity (marked)
    unreadable_snapshots: tuple[str, ...] = ()  # versions whose snapshot is gone (deleted by gc)

    @property
    def prediction_log_rows(self) -> int:
        return sum(r.rows_removed for r in self.prediction_log)

    @property
    def label_rows(self) -> int:
        return sum(r.rows_removed for r in self.labels)

    @property
    def quarantine_rows(self) -> int:
        return sum(rows for rows, _ in self.quarantines.values())

    @property
    def found(self) -> bool:
        return bool(self.prediction_log or self.labels or self.quarantines or self.dataset_versions)

    def audit_details(self, salt: str) -> dict[str, Any]:
        """The audit entry's details: counts, versions and the salted hash; no id, no path holding it."""
        return {
            "salt": salt, "entity_sha256": self.entity_sha256,
            "prediction_log": {"rows": self.prediction_log_rows, "files": len(self.prediction_log)},
            "labels": {"rows": self.label_rows, "files": len(self.labels)},
            "quarantine": {"rows": self.quarantine_rows,
                           "replaced": {k: v for k, (_, v) in sorted(self.quarantines.items())}},
            "dataset_versions": dict(sorted(self.dataset_versions.items())),
            "unreadable_snapshots": list(self.unreadable_snapshots),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity_sha256": self.entity_sha256, "applied": self.applied,
            "prediction_log": {"rows": self.prediction_log_rows, "files": [r.to_dict() for r in self.prediction_log]},
            "labels": {"rows": self.label_rows, "files": [r.to_dict() for r in self.labels]},
            "quarantine": {"rows": self.quarantine_rows,
                           "versions": {k: {"rows": r, "replaced_by": v}
                                        for k, (r, v) in sorted(self.quarantines.items())}},
            "dataset_versions": dict(sorted(self.dataset_versions.items())),
            "unreadable_snapshots": list(self.unreadable_snapshots),
        }


def erase_entity(project: Project, spec: Spec, entity_id: str, *, apply: bool = True) -> ErasureResult:
    """Remove `entity_id`'s rows (see the module docstring); with `apply=False` only count them."""
    project.require(Action.ERASE if apply else Action.READ_LOGS, subject="erase")
    if not entity_id.strip():
        raise ErasureError("the entity id is empty", hint="pass the id as it appears in the data, e.g. --entity C-1042")
    if spec.data.entity is None:
        raise ErasureError(
            "the spec declares no entity column (data.entity), so no row can be attributed to an entity",
            hint="set data.entity in assay.yaml to the column that identifies the person or customer",
        )
    erased = erasure_list(project.metadata)
    log_rewrites, requests = _erase_prediction_log(_log_base(project, spec), entity_id, apply=apply)
    label_rewrites = _erase_labels(project.root / STATE_DIR / LABELS_DIR, entity_id, requests, apply=apply)
    quarantines, marked, unreadable = _erase_datasets(project, spec.data.entity, entity_id, erased, apply=apply)
    digest = erased.hash_of(entity_id)
    result = ErasureResult(digest if apply or erased.hashes else None, apply, tuple(log_rewrites),
                           tuple(label_rewrites), quarantines, marked, tuple(unreadable))
    if apply:
        project.metadata.append_audit(actor=project.actor, action=ERASE_ACTION, subject=f"entity:{digest[:16]}",
                                      details=result.audit_details(erased.salt), at=project.clock.now())
    return result


def _log_base(project: Project, spec: Spec) -> Path:
    """The folder holding every model's prediction log (`<base>/<model>/date=.../hour=...`)."""
    return prediction_log_dir(project.root, spec, spec.model.name).parent


_RequestKeys = dict[str, set[tuple[str, int]]]  # model -> (request_id, row) of removed log rows


def _erase_prediction_log(base: Path, entity_id: str, *, apply: bool) -> tuple[list[Rewrite], _RequestKeys]:
    """Rewrites per file, and per model the (request_id, row) keys of the removed rows (their labels go too)."""
    rewrites: list[Rewrite] = []
    requests: _RequestKeys = {}
    for path in sorted(p for p in base.glob("*/date=*/hour=*/*.parquet") if not p.name.startswith(".")):
        keys: list[tuple[str, int]] = []

        def select(table: pa.Table, keys: list[tuple[str, int]] = keys) -> pa.ChunkedArray:
            mask = pc.equal(table.column("entity_id"), pa.scalar(entity_id, table.schema.field("entity_id").type))
            hit = table.filter(pc.fill_null(mask, False))
            keys.extend(zip(hit.column("request_id").to_pylist(), hit.column("row").to_pylist(), strict=True))
            return mask

        rewrite = remove_rows(path, select, columns=("entity_id", "request_id", "row"), apply=apply)
        if rewrite is not None:
            rewrites.append(rewrite)
            requests.setdefault(path.parents[2].name, set()).update((str(r), int(n)) for r, n in keys)
    return rewrites, requests


def _erase_labels(base: Path, entity_id: str, requests: _RequestKeys, *, apply: bool) -> list[Rewrite]:
    rewrites: list[Rewrite] = []
    for path in sorted(p for p in base.glob("*/labels-*.parquet") if not p.name.startswith(".")):
        logged = requests.get(path.parent.name, set())

        def select(table: pa.Table, logged: set[tuple[str, int]] = logged) -> pa.Array:
            entity = table.column("entity_id").to_pylist()
            request = table.column("request_id").to_pylist()
            row = table.column("row").to_pylist()
            return pa.array([e == entity_id or (q is not None and (q, int(r or 0)) in logged)
                             for e, q, r in zip(entity, request, row, strict=True)], pa.bool_())

        rewrite = remove_rows(path, select, columns=("entity_id", "request_id", "row"), apply=apply)
        if rewrite is not None:
            rewrites.append(rewrite)
    return rewrites


def _erase_datasets(project: Project, entity_column: str, entity_id: str, erased: ErasureList, *,
                    apply: bool) -> tuple[dict[str, tuple[int, str | None]], dict[str, int], list[str]]:
    """Quarantines lose the entity's rows (a replacement version); other versions are marked."""
    quarantines: dict[str, tuple[int, str | None]] = {}
    marked: dict[str, int] = {}
    unreadable: list[str] = []
    single = ErasureList(erased.salt, frozenset({erased.hash_of(entity_id)}))
    versions = project.metadata.list_datasets(limit=_ALL)
    replaced = {str(v.checks["erasure_of"]) for v in versions if v.name.endswith(QUARANTINE_SUFFIX)
                and "erasure_of" in v.checks}
    for version in versions:
        try:
            frame = read_snapshot(project.artifacts.get_bytes(version.snapshot_sha256))
        except ArtifactNotFoundError:
            if version.id not in replaced:  # a quarantine an earlier erasure replaced is not news
                unreadable.append(version.id)
            continue
        if entity_column not in frame.columns:
            continue
        mask = erased_mask(frame.get_column(entity_column), single)
        rows = int(mask.sum())
        if rows == 0:
            continue
        if not version.name.endswith(QUARANTINE_SUFFIX):
            marked[version.id] = rows
            continue
        replacement = _replace_quarantine(project, version, frame.filter(~mask), rows) if apply else None
        quarantines[version.id] = (rows, replacement)
    return quarantines, marked, sorted(unreadable)


def _replace_quarantine(project: Project, version: DatasetVersion, kept: pl.DataFrame, rows: int) -> str:
    """Store the quarantine without the entity's rows as a new version, then delete the old snapshot
    (nothing trains on a quarantine; the old record stays, its checks point at the replacement)."""
    recorded = record_derived(project, version, kept, name=version.name,
                              checks={**dict(version.checks), "erasure_of": version.id, "erased_rows": rows})
    still_used = any(v.snapshot_sha256 == version.snapshot_sha256 and v.id != version.id
                     for v in project.metadata.list_datasets(limit=_ALL))
    if not still_used:
        project.artifacts.delete(version.snapshot_sha256)
    return recorded.id


__all__ = ["ErasureError", "ErasureResult", "erase_entity"]
