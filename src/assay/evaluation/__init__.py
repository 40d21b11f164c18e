"""Metrics, and later calibration, fairness, comparison and gates."""

from __future__ import annotations

from assay.evaluation.metrics import LOWER_IS_BETTER, compute_metrics

__all__ = ["LOWER_IS_BETTER", "compute_metrics"]
