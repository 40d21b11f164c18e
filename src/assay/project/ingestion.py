"""Ingest: check the source, apply the check policy, profile it, compare it with the reference, record it.

With a declared schema, ingest streams: one pass over the source(s) casts and checks every batch
and writes the typed rows (declared PII left out) to the snapshot as it goes, and a second pass
over that snapshot, after any quarantined rows are taken out, computes the profile and the drift
statistics against the previous version's profile. Memory stays at about one batch, whatever
the size of the data. Without a declared schema the source is read whole once, to infer one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from assay.security.identity import Action
from assay.data.checks import CheckResult, ValidationReport, rows_phrase
from assay.data.dataset import (
    SPLIT_COLUMN,
    PreparedDataset,
    SnapshotWriter,
    content_hash_of,
    dataset_version_id,
    prepare_dataset,
    read_rows,
    source_refs,
    write_snapshot,
)
from assay.data.drift import check_drift
from assay.data.scan import scan_source, scan_sources
from assay.data.schema import schema_to_dict
from assay.data.source import SourceRef, uri_for_display
from assay.errors import DataCheckError, DataSourceError, NotFoundError
from assay.project.profiling import DriftCheck, drift_thresholds, profile_bytes, reference_for
from assay.project.quarantine import PolicyOutcome, apply_policy, quarantine_frame
from assay.project.reporter import NullReporter, Reporter
from assay.project.workspace import Project
from assay.registry.records import DatasetVersion
from assay.spec.model import DataSchema, Spec


@dataclass(frozen=True, slots=True)
class IngestResult:
    dataset: DatasetVersion
    created: bool
    report: ValidationReport
    drift: DriftCheck | None = None  # None when the version already existed
    quarantine: DatasetVersion | None = None  # the rows set aside by a quarantine policy, if any


@dataclass(frozen=True, slots=True)
class _Staged:
    """The source checked and written, typed, to a temporary snapshot (every row, PII left out)."""

    name: str
    version_id: str
    refs: Mapping[str, SourceRef]  # split -> file ("" -> the single source)
    content_hash: str
    schema: DataSchema
    schema_inferred: bool
    report: ValidationReport
    columns: tuple[str, ...]  # the source's columns
    snapshot: Path

    @property
    def source(self) -> SourceRef:
        return next(iter(self.refs.values()))


def validate(project: Project, *, spec: Spec | None = None) -> PreparedDataset:
    """Read and check the spec's data source without recording anything (whole, in memory)."""
    spec = spec or project.load_spec()[0]
    return prepare_dataset(spec.data, name=spec.dataset_name, base_dir=project.root)


def ingest(project: Project, *, spec: Spec | None = None, reporter: Reporter | None = None) -> IngestResult:
    """Validate the source and record it as a dataset version (idempotent: same data, same version)."""
    reporter = reporter or NullReporter()
    project.require(Action.WRITE_DATASETS, subject="dataset")
    spec = spec or project.load_spec()[0]
    schema = spec.data.data_schema
    with reporter.stage("validate"):
        if schema is None:  # infer a schema: that needs the whole source at once
            staged = _stage_inferred(project, spec)
        else:
            # Hash the files once (no parsing): the same bytes, schema and policy were judged before.
            refs = source_refs(spec.data, base_dir=project.root)
            content_hash, _ = content_hash_of(refs)
            version_id = dataset_version_id(spec.dataset_name, content_hash, schema, policy=spec.data.policy)
            try:
                known = project.metadata.get_dataset(version_id)
            except NotFoundError:
                known = None
            if known is not None:  # the recorded verdict stands
                return IngestResult(known, False, _recorded_report(known))
            staged = _stage_streamed(project, spec, schema, refs, content_hash, version_id)
    try:
        return _record(project, spec, staged, reporter)
    finally:
        staged.snapshot.unlink(missing_ok=True)


def _recorded_report(version: DatasetVersion) -> ValidationReport:
    """The failing and warning results recorded with a version (passing ones are only counted)."""
    checks = version.checks
    fields = set(CheckResult.__dataclass_fields__)
    results = [
        CheckResult(**{k: tuple(v) if isinstance(v, list) else v for k, v in entry.items() if k in fields})
        for entry in (*checks.get("errors", ()), *checks.get("warnings", ()))
    ]
    return ValidationReport(tuple(results), int(checks.get("row_count", version.row_count)))


def _stage_inferred(project: Project, spec: Spec) -> _Staged:
    prepared = validate(project, spec=spec)
    stored = prepared.frame.drop([c for c in prepared.frame.columns if c in spec.data.pii])
    return _Staged(
        name=prepared.name,
        version_id=prepared.version_id,
        refs=dict(prepared.sources) or {"": prepared.source},
        content_hash=prepared.content_hash,
        schema=prepared.schema,
        schema_inferred=True,
        report=prepared.report,
        columns=tuple(c for c in prepared.raw.columns if c != SPLIT_COLUMN),
        snapshot=write_snapshot(stored, project.scratch_dir),
    )


def _stage_streamed(
    project: Project, spec: Spec, schema: DataSchema, refs: Mapping[str, SourceRef], content_hash: str, version_id: str
) -> _Staged:
    """One checked pass over the source(s) that writes the typed rows (PII left out) to the snapshot."""
    pii = set(spec.data.pii)
    target = spec.data.target
    with SnapshotWriter(project.scratch_dir) as writer:

        def store(typed: pl.DataFrame, offset: int, split: str) -> None:
            if offset == 0 and target not in typed.columns:
                raise DataSourceError(
                    f"{next(iter(refs.values())).uri} has no target column {target!r}",
                    hint=f"set data.target in assay.yaml to one of: {', '.join(typed.columns)}",
                )
            kept = typed.drop([c for c in typed.columns if c in pii])
            writer.write(kept.with_columns(pl.lit(split, dtype=pl.String).alias(SPLIT_COLUMN)) if split else kept)

        scanned = scan_sources(refs, schema, masked=spec.data.pii, profile=False, on_batch=store)
        snapshot = writer.close()
    return _Staged(
        name=spec.dataset_name,
        version_id=version_id,
        refs=refs,
        content_hash=content_hash,
        schema=schema,
        schema_inferred=False,
        report=scanned.report,
        columns=scanned.columns,
        snapshot=snapshot,
    )


def _record(project: Project, spec: Spec, staged: _Staged, reporter: Reporter) -> IngestResult:
    for warning in staged.report.warnings:
        reporter.note(f"warning: {warning.message}")
    outcome = apply_policy(staged.report, spec.data.policy)
    if outcome.blocking:
        raise _failed_checks_error(staged.source, outcome.blocking)
    for result in outcome.warned:
        reporter.note(f"warning: {result.check} on {result.column!r}: {result.message} (data.policy: warn)")
    try:
        existing = project.metadata.get_dataset(staged.version_id)
    except NotFoundError:
        existing = None
    if existing is not None:
        return IngestResult(existing, False, staged.report)
    # Declared personal data is checked but never stored: artifacts are immutable, so PII in one
    # could never be erased. Nothing downstream needs it (it is never a feature).
    snapshot = staged.snapshot
    quarantine = None
    if len(outcome.quarantine_rows):
        quarantine = _record_quarantine(project, staged, outcome, spec)
        snapshot = _without_rows(staged.snapshot, outcome.quarantine_rows, project.scratch_dir)
        reporter.note(
            f"quarantined {quarantine.row_count} row(s) into dataset version {quarantine.id} "
            f"({', '.join(f'{k} {v}' for k, v in outcome.by_check().items())})"
        )
    try:
        with reporter.stage("profile and drift"):
            drift = _profile_and_drift(project, spec, staged, snapshot)
        for result in drift.warnings:
            reporter.note(f"warning: {result.check} on {result.column!r}: {result.message}")
        if drift.failures:
            if spec.data.drift.on_fail == "fail":
                raise _drift_error(staged.source, drift)
            for result in drift.failures:
                reporter.note(
                    f"warning: {result.check} on {result.column!r}: {result.message} (data.drift.on_fail: warn)"
                )
        profile_info = project.artifacts.put_bytes(profile_bytes(drift.profile))
        with reporter.stage("snapshot"):
            info = project.artifacts.put_file(snapshot)
        metadata = pq.read_metadata(snapshot)
        stored_columns = [c for c in metadata.schema.names if c != SPLIT_COLUMN]
    finally:
        if snapshot != staged.snapshot:
            snapshot.unlink(missing_ok=True)
    dataset = DatasetVersion(
        id=staged.version_id,
        name=staged.name,
        source_uri=_recorded_sources(staged.refs, project.root),
        content_hash=staged.content_hash,
        snapshot_sha256=info.sha256,
        row_count=metadata.num_rows,
        column_count=metadata.num_columns,
        schema={
            **schema_to_dict(staged.schema),
            "inferred": staged.schema_inferred,
            "not_stored": sorted(set(staged.columns) - set(stored_columns)),
        },
        created_at=project.clock.now(),
        created_by=project.actor,
        checks={
            **staged.report.summary(),
            "passed": True,
            "policy": dict(spec.data.policy),
            "warned": [r.to_dict() for r in outcome.warned],
            "quarantine": {
                "dataset_version": quarantine.id if quarantine else None,
                "rows": int(len(outcome.quarantine_rows)),
                "by_check": outcome.by_check(),
            },
            "drift": drift.summary(),
        },
        profile_sha256=profile_info.sha256,
    )
    recorded, created = project.metadata.add_dataset(dataset)
    return IngestResult(recorded, created, staged.report, drift, quarantine)


def _without_rows(snapshot: Path, positions: np.ndarray, directory: Path) -> Path:
    """A copy of the snapshot without the rows at `positions`, streamed batch by batch."""
    dropped = np.asarray(positions, dtype=np.int64)
    offset = 0
    with SnapshotWriter(directory) as writer:
        for batch in pl.scan_parquet(snapshot).collect_batches(chunk_size=250_000):
            inside = dropped[(dropped >= offset) & (dropped < offset + batch.height)] - offset
            keep = np.ones(batch.height, dtype=bool)
            keep[inside] = False
            writer.write(batch.filter(pl.Series(keep)))
            offset += batch.height
        return writer.close()


def _profile_and_drift(project: Project, spec: Spec, staged: _Staged, snapshot: Path) -> DriftCheck:
    """The stored rows' reference profile and, against the previous version's, the drift checks:
    one streaming pass over the snapshot (typed, PII-free, quarantined rows already out)."""
    stored_schema = staged.schema.model_copy(
        update={"columns": {k: v for k, v in staged.schema.columns.items() if k not in set(spec.data.pii)}}
    )
    found = reference_for(project, staged.name)
    scanned = scan_source(
        SourceRef(str(snapshot), "parquet"),
        stored_schema,
        profile_exclude=[SPLIT_COLUMN],
        compare_with=found[1] if found else None,
    )
    assert scanned.profile is not None
    if found is None:
        return DriftCheck(scanned.profile, None, ())
    assert scanned.compared is not None
    results = check_drift(found[1], scanned.compared, drift_thresholds(spec.data.drift))
    return DriftCheck(scanned.profile, found[0], tuple(results))


def _record_quarantine(project: Project, staged: _Staged, outcome: PolicyOutcome, spec: Spec) -> DatasetVersion:
    """Store the quarantined rows, as read and with their reasons, as a dataset version of its own."""
    rows = quarantine_frame(read_rows(staged.refs, outcome.quarantine_rows), staged.report, outcome, drop=spec.data.pii)
    snapshot = write_snapshot(rows, project.scratch_dir)
    try:
        info = project.artifacts.put_file(snapshot)
    finally:
        snapshot.unlink(missing_ok=True)
    name = f"{staged.name}.quarantine"
    version = DatasetVersion(
        id=dataset_version_id(name, staged.content_hash, staged.schema, policy=spec.data.policy),
        name=name,
        source_uri=_recorded_sources(staged.refs, project.root),
        content_hash=staged.content_hash,
        snapshot_sha256=info.sha256,
        row_count=rows.height,
        column_count=rows.width,
        schema={"quarantine_of": staged.version_id, "columns": {c: {"type": "string"} for c in rows.columns}},
        created_at=project.clock.now(),
        created_by=project.actor,
        checks={"quarantine_of": staged.version_id, "by_check": outcome.by_check(),
                "failed": [r.to_dict() for r in outcome.quarantined]},
    )
    return project.metadata.add_dataset(version)[0]


def _failed_checks_error(source: SourceRef, failed: Sequence[CheckResult]) -> DataCheckError:
    lines = []
    for result in failed:
        where = f"column {result.column!r}" if result.column else "the batch"
        examples = f" e.g. {', '.join(result.examples)}" if result.examples else ""
        rows = f" ({rows_phrase(result)})" if result.rows else ""
        lines.append(f"  - {result.check} on {where}: {result.message}{examples}{rows}")
    return DataCheckError(
        f"{uri_for_display(source.uri)} failed {len(lines)} check(s):\n" + "\n".join(lines),
        hint="fix the data, update data.schema in assay.yaml if the data is right and the schema is out of "
        "date, or set data.policy (warn or quarantine) for checks whose failing rows may be set aside",
    )


def _drift_error(source: SourceRef, drift: DriftCheck) -> DataCheckError:
    reference = drift.reference.id if drift.reference else "?"
    lines = [f"  - {r.check} on column {r.column!r}: {r.message}" for r in drift.failures]
    return DataCheckError(
        f"{uri_for_display(source.uri)} moved too far from dataset version {reference} "
        f"({len(lines)} drift check(s) failed):\n" + "\n".join(lines),
        hint="if the change is real and expected, set data.drift.on_fail: warn or raise the thresholds "
        "under data.drift in assay.yaml; otherwise find out what changed upstream",
    )


def recorded_source(uri: str, root: Path) -> str:
    """How a source is recorded: relative to the project when it lies inside it (so a moved or
    cloned project still finds it), otherwise as given, with any password removed."""
    if "://" not in uri:
        try:
            return Path(uri).relative_to(root).as_posix()
        except ValueError:
            return uri
    return uri_for_display(uri)


def _recorded_sources(refs: Mapping[str, SourceRef], root: Path) -> str:
    if list(refs) == [""]:
        return recorded_source(refs[""].uri, root)
    return "; ".join(f"{split}={recorded_source(ref.uri, root)}" for split, ref in refs.items())


__all__ = ["IngestResult", "ingest", "recorded_source", "validate"]
