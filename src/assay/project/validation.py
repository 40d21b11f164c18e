"""Validate a source against the project's schema and reference profile, streaming, recording nothing.

This is the check a team runs on every new batch before it is ingested or scored: the frozen
schema's checks and the drift statistics against the newest reference profile, in one pass
over the file with memory bounded by a batch (`assay.data.scan`), so it works on files larger
than memory. `assay validate` calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.data.checks import CheckResult, ValidationReport
from assay.data.dataset import source_refs
from assay.data.drift import check_drift
from assay.data.profile import DatasetProfile
from assay.data.scan import ScanResult, scan_source
from assay.data.schema import schema_from_mapping
from assay.data.source import SourceRef, uri_for_display
from assay.errors import SpecError
from assay.project.profiling import drift_thresholds, reference_for
from assay.project.workspace import Project
from assay.registry.records import DatasetVersion
from assay.spec.model import DataSchema, Spec


@dataclass(frozen=True, slots=True)
class SourceValidation:
    """One file's verdict: the schema checks and, against a reference, the drift checks."""

    source: str
    split: str  # "" for a single source or a given file
    report: ValidationReport
    drift: tuple[CheckResult, ...]
    reference: str | None  # the dataset version whose profile the drift is measured against
    sample_stride: int
    drift_fails: bool  # data.drift.on_fail is "fail"

    @property
    def passed(self) -> bool:
        failing_drift = any(not r.passed and r.severity == "error" for r in self.drift)
        return self.report.passed and not (failing_drift and self.drift_fails)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "split": self.split or None,
            "passed": self.passed,
            **{k: v for k, v in self.report.summary().items() if k != "passed"},
            "checks_passed": self.report.passed,
            "results": [r.to_dict() for r in self.report.results],
            "drift": {
                "reference": self.reference,
                "results": [r.to_dict() for r in self.drift],
                "on_fail": "fail" if self.drift_fails else "warn",
            },
            "profile_sample_stride": self.sample_stride,
        }


def schema_for_validation(project: Project, spec: Spec) -> tuple[DataSchema, str] | None:
    """The schema a new batch is held to, and where it comes from: the spec's declared one, else
    the one recorded with the newest ingested version; None when neither exists."""
    if spec.data.data_schema is not None:
        return spec.data.data_schema, "assay.yaml"
    for version in project.metadata.list_datasets(name=spec.dataset_name, limit=1):
        recorded = {k: v for k, v in version.schema.items() if k in ("columns", "min_rows", "max_rows")}
        return schema_from_mapping(recorded), f"dataset version {version.id}"
    return None


def validate_sources(
    project: Project,
    *,
    path: Path | None = None,
    spec: Spec | None = None,
    drift: bool = True,
    progress: Callable[[str, int], None] | None = None,
) -> list[SourceValidation]:
    """Validate `path` (a new batch) or else the spec's source(s), one streaming pass per file.

    Drift is measured for a single file (a given batch or a single-source spec) against the newest
    ingested version's profile; pre-split files are each checked against the schema only, since a
    time-split test file is meant to differ from the whole.
    """
    spec = spec or project.load_spec()[0]
    found = schema_for_validation(project, spec)
    if found is None:
        raise SpecError(
            "there is no schema to validate against: assay.yaml declares none and nothing was ingested yet",
            hint="run `assay ingest` once (it infers and records a schema), or declare data.schema "
            "(`assay data infer --data FILE` prints one to paste)",
        )
    schema, _ = found
    if path is not None:
        refs = {"": SourceRef.resolve(str(path), base_dir=Path.cwd(), declared=spec.data.format)}
    else:
        refs = source_refs(spec.data, base_dir=project.root)
    reference: tuple[DatasetVersion, DatasetProfile] | None = None
    if drift and len(refs) == 1:
        reference = reference_for(project, spec.dataset_name)
    results = []
    for split, ref in refs.items():
        shown = uri_for_display(ref.uri)
        scanned: ScanResult = scan_source(
            ref,
            schema,
            masked=spec.data.pii,
            profile=False,
            compare_with=reference[1] if reference else None,
            progress=(lambda rows, shown=shown: progress(shown, rows)) if progress else None,
        )
        drift_results: tuple[CheckResult, ...] = ()
        if reference is not None and scanned.compared is not None:
            drift_results = tuple(check_drift(reference[1], scanned.compared, drift_thresholds(spec.data.drift)))
        results.append(
            SourceValidation(
                source=shown,
                split=split,
                report=scanned.report,
                drift=drift_results,
                reference=reference[0].id if reference else None,
                sample_stride=scanned.sample_stride,
                drift_fails=spec.data.drift.on_fail == "fail",
            )
        )
    return results


__all__ = ["SourceValidation", "schema_for_validation", "validate_sources"]
