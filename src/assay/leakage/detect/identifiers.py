"""Identifiers or row order that encode the target: ids issued per outcome, files sorted by label."""

from __future__ import annotations

import numpy as np
import polars as pl

from assay.leakage.detect._stats import (
    TargetView,
    as_float,
    auc_null_se,
    is_numeric,
    oriented,
    strength,
    target_view,
)
from assay.leakage.detect.finding import Declarations, Finding, Severity

MIN_Z = 5.0  # distance from chance, in standard errors of a score that carries no information
CRITICAL_DISTANCE = 0.25  # |AUC - 0.5| or |Spearman|
WARNING_DISTANCE = 0.10
MIN_PARSED_SHARE = 0.5


def id_numbers(series: pl.Series) -> np.ndarray:
    """The numeric part of an id: the number itself, or the first run of digits in text."""
    if is_numeric(series.dtype) or series.dtype.is_temporal():
        return as_float(series.to_physical())
    digits = series.cast(pl.String).str.extract(r"(\d+)", 1).cast(pl.Float64, strict=False)
    return as_float(digits)


def _distance(score: np.ndarray, view: TargetView) -> tuple[float, float, float]:
    """(oriented strength on train, distance from chance, z) for a score against the training target."""
    value, _ = oriented(strength(score, view.train, view.kind), float("nan"), view.kind)
    if np.isnan(value):
        return value, 0.0, 0.0
    keep = np.isfinite(score) & np.isfinite(view.train)
    if view.kind == "binary":
        distance = value - 0.5
        se = auc_null_se(view.train[keep] > 0.5)
    else:
        distance = value
        se = 1.0 / np.sqrt(max(int(keep.sum()) - 1, 1))
    return value, distance, distance / se if se > 0 else 0.0


def _level(distance: float, z: float) -> Severity | None:
    if z < MIN_Z:
        return None
    if distance >= CRITICAL_DISTANCE:
        return "critical"
    return "warning" if distance >= WARNING_DISTANCE else None


def detect_identifiers(
    train: pl.DataFrame,
    test: pl.DataFrame,
    declarations: Declarations,
    *,
    validation: pl.DataFrame | None = None,
    seed: int = 0,
) -> list[Finding]:
    """Declared id columns whose numeric part, or the training rows' order, separates the target on
    train far beyond chance. (Row order is the one signal that is about order by design; it cannot
    appear from a random shuffle.)"""
    target = declarations.target
    view = target_view(train.get_column(target), test.get_column(target))
    if view.kind == "other" or train.height < 3:
        return []
    findings: list[Finding] = []
    for column in declarations.id_columns:
        numbers = id_numbers(train.get_column(column))
        if np.isfinite(numbers).mean() < MIN_PARSED_SHARE:
            continue
        value, distance, z = _distance(numbers, view)
        level = _level(distance, z)
        if level is None:
            continue
        test_numbers = id_numbers(test.get_column(column))
        _, test_value = oriented(strength(numbers, view.train, view.kind), strength(test_numbers, view.test, view.kind), view.kind)
        evidence: dict[str, float | int | str] = {f"{view.metric}_train": round(value, 4), "z": round(z, 1)}
        if not np.isnan(test_value):
            evidence[f"{view.metric}_test"] = round(test_value, 4)
        findings.append(
            Finding(
                kind="identifier_encodes_target",
                severity=level,
                message=f"the numeric part of id column {column!r} orders {target!r} on train with {view.metric} {value:.3f} ({z:.0f} standard errors from chance)",
                fix=f"never use {column!r} as a feature, and find out why ids track the outcome (ids issued per outcome, or rows re-keyed after labelling)",
                columns=(column,),
                evidence=evidence,
            )
        )
    position = np.arange(train.height, dtype=np.float64)
    value, distance, z = _distance(position, view)
    level = _level(distance, z)
    if level is not None:
        findings.append(
            Finding(
                kind="row_order_encodes_target",
                severity=level,
                message=f"the order of the training rows tracks {target!r} ({view.metric} {value:.3f} for row position, {z:.0f} standard errors from chance): the file is sorted by or grouped by the outcome",
                fix="shuffle before any positional split, and never use the row number (or an index made from it) as a feature",
                columns=(target,),
                evidence={f"{view.metric}_train": round(value, 4), "z": round(z, 1)},
            )
        )
    return findings


__all__ = ["detect_identifiers", "id_numbers"]
