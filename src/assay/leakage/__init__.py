"""Split strategies and (in later work) leakage detectors."""

from __future__ import annotations

from assay.leakage.split import SPLITS, SplitManifest, split_dataset

__all__ = ["SPLITS", "SplitManifest", "split_dataset"]
