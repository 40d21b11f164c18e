"""Split strategies, leakage detectors, and the gate that runs them before training."""

from __future__ import annotations

from assay.leakage.detect import Declarations, Finding, LeakageReport, check_leakage
from assay.leakage.split import SPLITS, SplitManifest, split_dataset

__all__ = ["SPLITS", "Declarations", "Finding", "LeakageReport", "SplitManifest", "check_leakage", "split_dataset"]
