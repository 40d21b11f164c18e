"""Features that give the target away: one feature alone (its values, or whether it is missing)
predicts the target almost perfectly on test when fitted on train, or is the target recoded."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from assay.leakage.detect._stats import (
    TargetView,
    as_float,
    is_numeric,
    oriented,
    spearman,
    strength,
    target_view,
)
from assay.leakage.detect.finding import Declarations, Finding, Severity

CRITICAL_STRENGTH = 0.98  # AUC (binary target) or Spearman (numeric target) on test
WARNING_STRENGTH = 0.95
HINTED_WARNING_STRENGTH = 0.90  # a leak-like name lowers the bar by one level, never below this
COPY_SPEARMAN = 0.9999
MAX_RECODED_VALUES = 50  # a 1:1 recoding is judged only for targets with few distinct values
MIN_ROWS = 20
MISSING_SHARE = (0.01, 0.99)
LOW_CARDINALITY = 20
_SMOOTHING = 10.0
NAME_HINTS = re.compile(
    r"(_after_|after_|chargeback|collections?\b|collections?_|outcome|default_flag|defaulted|paid_off|"
    r"_result\b|_result_|^result|write_?off|charged_off|recover|settle|churned|_label\b|^label|_target\b|future|post_)",
)


def has_leaky_name(column: str) -> bool:
    """A column name that often means 'known only after the outcome' (a hint, never proof)."""
    return NAME_HINTS.search(column.lower()) is not None


@dataclass(frozen=True, slots=True)
class _Score:
    train: float
    test: float


def _encoded(train_values: pl.Series, test_values: pl.Series, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each category's smoothed target mean on train, applied to train and test (unseen: overall mean)."""
    keys = train_values.cast(pl.String).fill_null("\x00<null>")
    known = np.isfinite(y)
    frame = pl.DataFrame({"k": keys.filter(pl.Series(known)), "y": y[known]})
    prior = float(y[known].mean()) if known.any() else 0.0
    stats = frame.group_by("k").agg(pl.col("y").sum().alias("s"), pl.len().alias("n"))
    means = (stats.get_column("s") + _SMOOTHING * prior) / (stats.get_column("n") + _SMOOTHING)
    def apply(values: pl.Series) -> np.ndarray:
        codes = values.cast(pl.String).fill_null("\x00<null>")
        return codes.replace_strict(stats.get_column("k"), means, default=prior, return_dtype=pl.Float64).to_numpy()
    return apply(train_values), apply(test_values)


def _value_score(train_values: pl.Series, test_values: pl.Series, view: TargetView) -> _Score:
    scores: list[_Score] = []
    if is_numeric(train_values.dtype) or train_values.dtype.is_temporal():
        x_train = as_float(train_values.to_physical())
        x_test = as_float(test_values.cast(train_values.dtype, strict=False).to_physical())
        scores.append(_Score(*oriented(strength(x_train, view.train, view.kind), strength(x_test, view.test, view.kind), view.kind)))
    if not scores or train_values.n_unique() <= LOW_CARDINALITY:
        e_train, e_test = _encoded(train_values, test_values, view.train)
        scores.append(_Score(*oriented(strength(e_train, view.train, view.kind), strength(e_test, view.test, view.kind), view.kind)))
    best = max(scores, key=lambda s: -1.0 if np.isnan(s.test) else s.test)
    return best


def _missing_score(train_values: pl.Series, test_values: pl.Series, view: TargetView) -> _Score | None:
    train_null, test_null = train_values.null_count() / train_values.len(), test_values.null_count() / test_values.len()
    low, high = MISSING_SHARE
    if not (low <= train_null <= high and low <= test_null <= high):
        return None
    m_train = train_values.is_null().cast(pl.Float64).to_numpy()
    m_test = test_values.is_null().cast(pl.Float64).to_numpy()
    return _Score(*oriented(strength(m_train, view.train, view.kind), strength(m_test, view.test, view.kind), view.kind))


def _is_recoding(values: pl.Series, target: pl.Series) -> bool:
    """A 1:1 mapping between the feature's values and the target's (on rows where both are known)."""
    pairs = pl.DataFrame({"f": values.cast(pl.String), "y": target.cast(pl.String)}).drop_nulls()
    if pairs.height < MIN_ROWS or pairs.height < 0.9 * values.len():
        return False
    distinct = pairs.unique()
    return (
        2 <= distinct.height <= min(MAX_RECODED_VALUES, pairs.height // 10)
        and distinct.get_column("f").n_unique() == distinct.height
        and distinct.get_column("y").n_unique() == distinct.height
    )


def _copy_evidence(name: str, train: pl.DataFrame, test: pl.DataFrame, target: str, view: TargetView) -> dict[str, float | int | str] | None:
    both = pl.concat([train.select(name, target), test.select(name, target).cast(train.select(name, target).schema, strict=False)])
    values, y = both.get_column(name), both.get_column(target)
    if _is_recoding(values, y):
        return {"relation": "one-to-one recoding", "distinct_values": values.drop_nulls().n_unique()}
    if view.kind == "numeric" and is_numeric(values.dtype):
        x, t = as_float(values), as_float(y)
        keep = np.isfinite(x) & np.isfinite(t)
        if keep.sum() >= MIN_ROWS and keep.mean() >= 0.9:
            rho = spearman(x[keep], t[keep])
            if abs(rho) >= COPY_SPEARMAN:
                return {"relation": "monotone transform", "spearman": round(rho, 6)}
    return None


def _level(value: float, hinted: bool) -> Severity | None:
    if np.isnan(value):
        return None
    if value >= CRITICAL_STRENGTH or (hinted and value >= WARNING_STRENGTH):
        return "critical"
    if value >= WARNING_STRENGTH or (hinted and value >= HINTED_WARNING_STRENGTH):
        return "warning"
    return None


def detect_target_leakage(
    train: pl.DataFrame,
    test: pl.DataFrame,
    declarations: Declarations,
    *,
    validation: pl.DataFrame | None = None,
    seed: int = 0,
) -> list[Finding]:
    """Per feature: is it the target recoded (`target_copy`); does it alone, fitted on train,
    predict the target on test almost perfectly through its values (`target_proxy`) or through
    whether it is missing (`missingness_proxy`)? A leak-like name raises the severity of strong
    evidence by one level, and on its own is only `info` (`target_name_hint`)."""
    target = declarations.target
    view = target_view(train.get_column(target), test.get_column(target))
    findings: list[Finding] = []
    for name in declarations.feature_columns(train.columns):
        if name == target:
            continue
        hinted = has_leaky_name(name)
        train_values, test_values = train.get_column(name), test.get_column(name)
        copy = _copy_evidence(name, train, test, target, view)
        if copy is not None:
            findings.append(
                Finding(
                    kind="target_copy",
                    severity="critical",
                    message=f"{name!r} is the target {target!r} recoded ({copy['relation']})",
                    fix=f"drop {name!r}: it is the answer, not a feature",
                    columns=(name, target),
                    evidence=copy,
                )
            )
            continue
        reported = False
        if view.kind != "other" and train.height >= MIN_ROWS and test.height >= MIN_ROWS:
            score = _value_score(train_values, test_values, view)
            level = _level(score.test, hinted)
            if level is not None:
                reported = True
                findings.append(
                    Finding(
                        kind="target_proxy",
                        severity=level,
                        message=(
                            f"{name!r} alone predicts {target!r} on test with {view.metric} {score.test:.3f} "
                            f"(fitted on train{'; its name also suggests it is known only after the outcome' if hinted else ''})"
                        ),
                        fix=f"check when {name!r} becomes known; if only after the outcome, drop it or take it as of the prediction time",
                        columns=(name,),
                        evidence={f"{view.metric}_test": round(score.test, 4), f"{view.metric}_train": round(score.train, 4), "name_hint": int(hinted)},
                    )
                )
            missing = _missing_score(train_values, test_values, view)
            level = _level(missing.test, hinted) if missing is not None else None
            if missing is not None and level is not None:
                reported = True
                findings.append(
                    Finding(
                        kind="missingness_proxy",
                        severity=level,
                        message=f"whether {name!r} is missing alone predicts {target!r} on test with {view.metric} {missing.test:.3f}",
                        fix=f"find out why {name!r} is missing: it is likely filled in only after the outcome; drop it or its missingness",
                        columns=(name,),
                        evidence={f"{view.metric}_test": round(missing.test, 4), f"{view.metric}_train": round(missing.train, 4), "missing_share_test": round(test_values.null_count() / test_values.len(), 4)},
                    )
                )
        if hinted and not reported:
            findings.append(
                Finding(
                    kind="target_name_hint",
                    severity="info",
                    message=f"{name!r} has a name often used for facts known only after the outcome, but the data shows no strong link to {target!r}",
                    fix=f"confirm {name!r} is known at prediction time",
                    columns=(name,),
                )
            )
    return findings


__all__ = ["NAME_HINTS", "detect_target_leakage", "has_leaky_name"]
