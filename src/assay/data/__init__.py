"""Reading sources, schema inference and checks, dataset versions."""

from __future__ import annotations

from assay.data.drift import DriftThresholds, check_drift, psi
from assay.data.profile import DatasetProfile, merge, profile_frame, profile_with_edges
from assay.data.dataset import PreparedDataset, dataset_version_id, prepare_dataset, read_snapshot, write_snapshot
from assay.data.scan import ScanResult, scan_source
from assay.data.schema import CheckResult, ValidationReport, conform, infer_schema
from assay.data.source import SourceRef, hash_source, iter_batches, read_source

__all__ = [
    "CheckResult",
    "DatasetProfile",
    "DriftThresholds",
    "check_drift",
    "merge",
    "profile_frame",
    "profile_with_edges",
    "psi",
    "PreparedDataset",
    "ScanResult",
    "SourceRef",
    "ValidationReport",
    "conform",
    "dataset_version_id",
    "hash_source",
    "infer_schema",
    "iter_batches",
    "prepare_dataset",
    "read_snapshot",
    "read_source",
    "scan_source",
    "write_snapshot",
]
