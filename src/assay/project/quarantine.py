"""Check policies on ingest: which failing checks stop the batch, which only warn, and which move
their failing rows into a separate, versioned quarantine dataset (so nothing is silently dropped)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from assay.data.schema import CheckResult, ValidationReport

REASON_COLUMN = "_assay_failed_checks"


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    blocking: tuple[CheckResult, ...]
    warned: tuple[CheckResult, ...]
    quarantined: tuple[CheckResult, ...]
    quarantine_rows: np.ndarray  # sorted 0-based positions of the rows moved to quarantine

    def by_check(self) -> dict[str, int]:
        return {f"{r.check}:{r.column}": r.failed_count for r in self.quarantined}


def apply_policy(report: ValidationReport, policy: Mapping[str, str]) -> PolicyOutcome:
    """Sort the report's failures by the policy of their check (default: fail). Batch-level checks
    (a missing column, the row count) always fail: there is no row to set aside."""
    blocking: list[CheckResult] = []
    warned: list[CheckResult] = []
    quarantined: list[CheckResult] = []
    for result in report.errors:
        rule = policy.get(result.check, "fail") if (result.check, result.column) in report.failing_rows else "fail"
        {"fail": blocking, "warn": warned, "quarantine": quarantined}[rule].append(result)
    rows = [report.failing_rows[(r.check, r.column)] for r in quarantined]
    positions = np.unique(np.concatenate(rows)) if rows else np.array([], dtype=np.int64)
    return PolicyOutcome(tuple(blocking), tuple(warned), tuple(quarantined), positions)


def quarantine_frame(
    rows: pl.DataFrame, report: ValidationReport, outcome: PolicyOutcome, *, drop: Sequence[str]
) -> pl.DataFrame:
    """The quarantined rows exactly as they were read (`rows`, in the order of
    `outcome.quarantine_rows`), minus `drop` (the declared PII), with the checks each one failed
    in REASON_COLUMN."""
    reasons: dict[int, list[str]] = {int(i): [] for i in outcome.quarantine_rows}
    for result in outcome.quarantined:
        for position in report.failing_rows[(result.check, result.column)]:
            reasons[int(position)].append(f"{result.check}:{result.column}")
    kept = rows.drop([c for c in drop if c in rows.columns])
    return kept.with_columns(
        pl.Series(REASON_COLUMN, ["; ".join(reasons[int(i)]) for i in outcome.quarantine_rows], dtype=pl.String)
    )


__all__ = ["REASON_COLUMN", "PolicyOutcome", "apply_policy", "quarantine_frame"]
