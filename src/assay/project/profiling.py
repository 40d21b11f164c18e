"""Reference profiles of dataset versions, and drift checks of a new batch against the previous one."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from collections.abc import Sequence

from assay.data.drift import DriftThresholds, ks_from_quantiles, psi
from assay.data.profile import (
    CategoricalProfile,
    ColumnProfile,
    DatasetProfile,
    NumericProfile,
    profile_frame,
    profile_with_edges,
)
from assay.data.schema import CheckResult, infer_schema
from assay.project.workspace import Project
from assay.registry.records import DatasetVersion
from assay.leakage.detect import Finding
from assay.leakage.split import SplitManifest
from assay.spec.model import DataSchema, DriftSpec, Spec


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


def reference_for(project: Project, name: str) -> tuple[DatasetVersion, DatasetProfile] | None:
    """The newest recorded version of dataset `name` that has a profile."""
    for version in project.metadata.list_datasets(name=name, limit=50):
        if version.profile_sha256:
            data = json.loads(project.artifacts.get_bytes(version.profile_sha256))
            return version, DatasetProfile.from_dict(data)
    return None


def drift_thresholds(drift: DriftSpec) -> DriftThresholds:
    return DriftThresholds(
        psi_warn=drift.psi_warn,
        psi_fail=drift.psi_fail,
        ks=drift.ks,
        unseen_share=drift.unseen_share,
        null_rate_increase=drift.null_rate_increase,
    )


# Splits under which train and test are expected to come from one population: a gap between them
# is then not explained by the split. Under time and group splits some gap is the point.
_SAME_POPULATION = ("random", "stratified", "predefined")


_KS_CRITICAL = 1.95  # c(alpha) of the two-sample KS test at alpha = 0.001
_KS_SUMMARY_ERROR = 0.02  # ks_from_quantiles is within this of the exact statistic


def _gap(reference: ColumnProfile, current: ColumnProfile, spec: Spec) -> str | None:
    """How the test rows of one feature differ from the training rows, beyond sampling noise."""
    n, m = reference.count - reference.null_count, current.count - current.null_count
    if n < 20 or m < 20:
        return None
    noise = (n + m) / (n * m)
    if isinstance(reference, NumericProfile) and isinstance(current, NumericProfile):
        distance = ks_from_quantiles(reference.quantiles, current.quantiles)
        limit = max(spec.data.drift.ks, _KS_CRITICAL * math.sqrt(noise) + _KS_SUMMARY_ERROR)
        return f"KS {distance:.3f} above {limit:.3f}" if distance > limit else None
    if isinstance(reference, CategoricalProfile) and isinstance(current, CategoricalProfile):
        expected = (*reference.counts, reference.other_count)
        actual = (*current.counts, current.other_count)
        value = psi(expected, actual)
        # Under no change PSI is about (bins - 1) * (1/n + 1/m); allow three times that.
        limit = spec.data.drift.psi_fail + 3 * (len(expected) - 1) * noise
        return f"PSI {value:.3f} above {limit:.3f}" if value > limit else None
    return None


def representativeness_findings(
    frame: pl.DataFrame, manifest: SplitManifest, spec: Spec, *, features: Sequence[str]
) -> list[Finding]:
    """Features whose test distribution differs from train's by more than sampling noise allows.

    Under random, stratified and predefined splits train and test should look alike, so such a gap
    says the test set does not represent the population the model was trained for (warning). Under
    time or group splits a gap is expected and is reported as info. Thresholds: the spec's
    data.drift ks / psi_fail, raised to the sampling-noise level for small splits (KS critical value
    at alpha 0.001; PSI's expected value under no change, times three).
    """
    schema = spec.data.data_schema or infer_schema(frame.select(list(features)))
    declared = {name: schema.columns[name] for name in features if name in schema.columns}
    if not declared or not len(manifest.indices["test"]):
        return []
    feature_schema = DataSchema(columns=declared, min_rows=0)
    reference = profile_frame(frame[manifest.indices["train"]].select(list(declared)), feature_schema)
    current = profile_with_edges(frame[manifest.indices["test"]].select(list(declared)), reference)
    expected = spec.split.strategy not in _SAME_POPULATION
    findings = []
    for column in sorted(declared):
        gap = _gap(reference.columns[column], current.columns[column], spec)
        if gap is None:
            continue
        if expected:
            message = f"the test rows' {column} differs from the training rows' ({gap}), as a {spec.split.strategy} split can make it"
            fix = "expected under this split; watch this feature for drift in production"
        else:
            message = f"the test rows' {column} differs from the training rows' ({gap}), which a {spec.split.strategy} split does not explain"
            fix = "check how the test rows were chosen: its metrics describe another population than the model was trained for"
        findings.append(
            Finding(
                kind="unrepresentative_test",
                severity="info" if expected else "warning",
                message=message,
                fix=fix,
                columns=(column,),
                evidence={"gap": gap},
            )
        )
    return findings


def profile_bytes(profile: DatasetProfile) -> bytes:
    return json.dumps(profile.to_dict(), sort_keys=True, separators=(",", ":")).encode()


__all__ = ["DriftCheck", "drift_thresholds", "profile_bytes", "reference_for", "representativeness_findings"]
