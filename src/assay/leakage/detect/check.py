"""Run every leakage detector over a train/test pair and collect what they find."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from assay.errors import LeakageError
from assay.leakage.detect.duplicates import detect_duplicates
from assay.leakage.detect.entity import detect_entity_overlap
from assay.leakage.detect.finding import SEVERITY_RANK, Declarations, Finding
from assay.leakage.detect.identifiers import detect_identifiers
from assay.leakage.detect.preprocessing import detect_preprocessing
from assay.leakage.detect.target import detect_target_leakage
from assay.leakage.detect.temporal import detect_temporal

Detector = Callable[..., list[Finding]]
DETECTORS: tuple[Detector, ...] = (
    detect_duplicates,
    detect_entity_overlap,
    detect_temporal,
    detect_target_leakage,
    detect_identifiers,
    detect_preprocessing,
)


@dataclass(frozen=True, slots=True)
class LeakageReport:
    """Every finding, most severe first (then by kind and columns)."""

    findings: tuple[Finding, ...]
    train_rows: int
    test_rows: int
    validation_rows: int | None = None

    @property
    def critical(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "critical")

    def with_finding(self, finding: Finding) -> LeakageReport:
        """The same report with one more finding (from a check outside the detectors), in order."""
        return replace(self, findings=tuple(sorted((*self.findings, finding), key=_order)))

    def counts(self) -> dict[str, int]:
        return {level: sum(f.severity == level for f in self.findings) for level in SEVERITY_RANK}

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": {"train": self.train_rows, "validation": self.validation_rows, "test": self.test_rows},
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
        }


def _declared(declarations: Declarations) -> list[tuple[str, str]]:
    """(role, column) for every column the declarations name."""
    named = [("target", declarations.target)]
    named += [(role, c) for role, c in (("time", declarations.time), ("prediction time", declarations.prediction_time), ("entity", declarations.entity)) if c]
    named += [("id", c) for c in declarations.id_columns]
    for feature, column in declarations.feature_time.items():
        named += [("feature with an observation time", feature), (f"observation time of {feature!r}", column)]
    named += [("feature", c) for c in declarations.features or ()]
    return named


def validate_declarations(train: pl.DataFrame, test: pl.DataFrame, declarations: Declarations, *, validation: pl.DataFrame | None = None) -> None:
    """Raise LeakageError naming every declared column a frame lacks (all of them, sorted)."""
    frames = {"train": train, "test": test} | ({"validation": validation} if validation is not None else {})
    for name, frame in frames.items():
        if frame.height == 0:
            raise LeakageError(f"the {name} frame has no rows", hint=f"pass a non-empty {name} set")
    missing = sorted(
        {f"{role} column {column!r} is not in {name}" for role, column in _declared(declarations) for name, frame in frames.items() if column not in frame.columns}
    )
    if missing:
        raise LeakageError(
            "; ".join(missing),
            hint=f"declare columns that exist; train has: {', '.join(train.columns)}",
        )
    if declarations.feature_time and declarations.as_of is None:
        raise LeakageError(
            "feature observation times are declared but no prediction time to compare them with",
            hint="declare prediction_time (or time): the moment each prediction is made",
        )
    if declarations.features is not None and declarations.target in declarations.features:
        raise LeakageError(f"the target {declarations.target!r} is listed as a feature", hint="remove it from features")


def _order(finding: Finding) -> tuple[int, str, tuple[str, ...]]:
    return SEVERITY_RANK[finding.severity], finding.kind, finding.columns


def check_leakage(
    train: pl.DataFrame,
    test: pl.DataFrame,
    declarations: Declarations,
    *,
    validation: pl.DataFrame | None = None,
    seed: int = 0,
    detectors: Sequence[Detector] = DETECTORS,
) -> LeakageReport:
    """Validate the declarations against the frames, run every detector, and report the findings."""
    validate_declarations(train, test, declarations, validation=validation)
    findings = [f for detect in detectors for f in detect(train, test, declarations, validation=validation, seed=seed)]
    return LeakageReport(
        findings=tuple(sorted(findings, key=_order)),
        train_rows=train.height,
        test_rows=test.height,
        validation_rows=validation.height if validation is not None else None,
    )


__all__ = ["DETECTORS", "Detector", "LeakageReport", "check_leakage", "validate_declarations"]
