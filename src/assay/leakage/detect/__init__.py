"""Leakage detectors: duplicates, entity overlap, temporal order, target proxies, identifiers and
preprocessing fitted before the split. `check_leakage` runs them all and returns a `LeakageReport`."""

from __future__ import annotations

from assay.leakage.detect.check import (
    DETECTORS,
    LeakageReport,
    check_leakage,
    validate_declarations,
)
from assay.leakage.detect.duplicates import detect_duplicates
from assay.leakage.detect.entity import detect_entity_overlap
from assay.leakage.detect.finding import KINDS, Declarations, Finding, Kind, Severity
from assay.leakage.detect.identifiers import detect_identifiers
from assay.leakage.detect.preprocessing import detect_preprocessing
from assay.leakage.detect.target import detect_target_leakage
from assay.leakage.detect.temporal import detect_temporal

__all__ = [
    "DETECTORS",
    "KINDS",
    "Declarations",
    "Finding",
    "Kind",
    "LeakageReport",
    "Severity",
    "check_leakage",
    "detect_duplicates",
    "detect_entity_overlap",
    "detect_identifiers",
    "detect_preprocessing",
    "detect_target_leakage",
    "detect_temporal",
    "validate_declarations",
]
