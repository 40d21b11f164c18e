"""Reference profiles of dataset versions, and drift checks of a new batch against the previous one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import polars as pl

from assay.data.drift import DriftThresholds, check_drift
from assay.data.profile import DatasetProfile, profile_frame, profile_with_edges
from assay.data.schema import CheckResult
from assay.project.workspace import Project
from assay.registry.records import DatasetVersion
from assay.spec.model import DataSchema, DriftSpec


@dataclass(frozen=True, slots=True)
class DriftCheck:
    """The new batch's own profile, and how it compares with the reference (if there is one)."""

    profile: DatasetProfile
    reference: DatasetVersion | None
    results: tuple[CheckResult, ...]

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed and r.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed and r.severity == "warning"]

    def summary(self) -> dict[str, Any]:
        return {
            "reference": self.reference.id if self.reference else None,
            "checks": len(self.results),
            "failed": [r.to_dict() for r in self.failures],
            "warnings": [r.to_dict() for r in self.warnings],
        }


def _stored_schema(schema: DataSchema, frame: pl.DataFrame) -> DataSchema:
    """The schema of what is stored (declared PII columns are not)."""
    return schema.model_copy(update={"columns": {k: v for k, v in schema.columns.items() if k in frame.columns}})


def reference_for(project: Project, name: str) -> tuple[DatasetVersion, DatasetProfile] | None:
    """The newest recorded version of dataset `name` that has a profile."""
    for version in project.metadata.list_datasets(name=name, limit=50):
        if version.profile_sha256:
            data = json.loads(project.artifacts.get_bytes(version.profile_sha256))
            return version, DatasetProfile.from_dict(data)
    return None


def check_batch(project: Project, frame: pl.DataFrame, schema: DataSchema, *, name: str, drift: DriftSpec) -> DriftCheck:
    """Profile `frame` and compare it with the previous version's profile on the same bins."""
    stored_schema = _stored_schema(schema, frame)
    own = profile_frame(frame, stored_schema)
    found = reference_for(project, name)
    if found is None:
        return DriftCheck(own, None, ())
    reference, reference_profile = found
    current = profile_with_edges(frame, reference_profile)
    thresholds = DriftThresholds(
        psi_warn=drift.psi_warn,
        psi_fail=drift.psi_fail,
        ks=drift.ks,
        unseen_share=drift.unseen_share,
        null_rate_increase=drift.null_rate_increase,
    )
    return DriftCheck(own, reference, tuple(check_drift(reference_profile, current, thresholds)))


def profile_bytes(profile: DatasetProfile) -> bytes:
    return json.dumps(profile.to_dict(), sort_keys=True, separators=(",", ":")).encode()


__all__ = ["DriftCheck", "check_batch", "profile_bytes", "reference_for"]
