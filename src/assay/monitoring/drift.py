"""Drift of a current batch against a reference profile, and the verdict.

Every feature gets its effect sizes (numeric: PSI, KS and Wasserstein distances; categorical: PSI,
Jensen-Shannon distance, the share of unseen categories; both: the rise in missing values) and two
tests: a chi-square test on the exact bin counts, and a one-sided test of a rise in missing values.
On large samples every test is significant, and on small ones effect sizes are noisy, so a feature
drifts only when an effect passes its declared threshold AND the matching test stays significant
after Benjamini-Hochberg control of the false-discovery rate across all features' tests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from assay.data.drift import ks_from_quantiles, psi, unseen_share
from assay.data.profile import (
    CategoricalProfile,
    ColumnProfile,
    DatasetProfile,
    NumericProfile,
    profile_frame,
    profile_with_edges,
)
from assay.monitoring.errors import MonitoringError, MonitoringSourceError
from assay.monitoring.statistics import (
    benjamini_hochberg,
    chi_square_p,
    jensen_shannon,
    rise_p,
    wasserstein_from_quantiles,
)
from assay.spec.model import ColumnSchema, DataSchema
from assay.spec.monitoring import DriftPolicy

Verdict = Literal["drift", "no drift", "not enough data"]
Kind = Literal["numeric", "categorical", "prediction"]
PREDICTION = "prediction"  # the name the model's scores are reported under


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """One feature's (or the prediction's) statistics, tests and verdict.

    `statistic`/`value`/`threshold` are the judged effect size. `p_value` is the chi-square test
    of the distribution, `null_p_value` the test of a rise in missing values; `*_adjusted` are
    their Benjamini-Hochberg adjustments across the whole report. `reasons` says why it drifted.
    """

    name: str
    kind: Kind
    statistic: str
    value: float | None
    threshold: float
    statistics: Mapping[str, float | None]
    p_value: float | None
    p_adjusted: float | None
    null_p_value: float | None
    null_p_adjusted: float | None
    reference_count: int  # rows with a value, in the reference
    current_count: int  # rows with a value, in the current batch
    verdict: Verdict
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # effects above their threshold that the tests do not support

    @property
    def drifted(self) -> bool:
        return self.verdict == "drift"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "statistic": self.statistic,
            "value": self.value,
            "threshold": self.threshold,
            "statistics": dict(self.statistics),
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "null_p_value": self.null_p_value,
            "null_p_adjusted": self.null_p_adjusted,
            "reference_count": self.reference_count,
            "current_count": self.current_count,
            "drifted": self.drifted,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class DriftReport:
    """The comparison of one current batch with a reference: per feature, the prediction, a verdict.

    The profiles it was computed from are kept (for plots) but are not part of `to_dict`.
    """

    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift | None
    rows: int  # rows in the current batch
    reference_rows: int
    policy: DriftPolicy
    reference: DatasetProfile = field(repr=False)
    current: DatasetProfile = field(repr=False)
    reference_scores: DatasetProfile | None = field(default=None, repr=False)
    current_scores: DatasetProfile | None = field(default=None, repr=False)

    @property
    def enough_data(self) -> bool:
        return self.rows >= self.policy.min_rows

    @property
    def drifted(self) -> list[str]:
        """Names of the drifted features (and "prediction" when the scores drifted)."""
        judged = [*self.features, *([self.prediction] if self.prediction is not None else [])]
        return [f.name for f in judged if f.drifted]

    @property
    def verdict(self) -> Verdict:
        if not self.enough_data:
            return "not enough data"
        return "drift" if self.drifted else "no drift"

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "drifted": self.drifted,
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "min_rows": self.policy.min_rows,
            "fdr": self.policy.fdr,
            "features": [f.to_dict() for f in self.features],
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "policy": self.policy.model_dump(mode="json"),
        }


# --- measuring one column --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Effect:
    label: str  # the statistic's name
    value: float
    threshold: float
    test: Literal["distribution", "null"]


@dataclass(frozen=True, slots=True)
class _Measured:
    name: str
    kind: Kind
    statistic: str
    threshold: float
    statistics: dict[str, float | None]
    p_value: float | None
    null_p_value: float | None
    effects: tuple[_Effect, ...]  # every effect size above its threshold
    reference_count: int
    current_count: int


def _measure(name: str, kind: Kind, ref: ColumnProfile, cur: ColumnProfile, policy: DriftPolicy) -> _Measured:
    before_missing = ref.missing_count / ref.count if ref.count else 0.0
    after_missing = cur.missing_count / cur.count if cur.count else 0.0
    null_change = after_missing - before_missing
    statistics: dict[str, float | None] = {"null_rate_reference": before_missing, "null_rate_current": after_missing,
                                           "null_rate_change": null_change}
    effects: list[_Effect] = []
    if kind != PREDICTION and null_change > policy.null_rate_increase:
        effects.append(_Effect("null_rate_change", null_change, policy.null_rate_increase, "null"))
    null_p = None if kind == PREDICTION else rise_p(ref.missing_count, ref.count, cur.missing_count, cur.count)
    both = ref.valid_count > 0 and cur.valid_count > 0
    if isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile):
        judged = "psi" if kind == PREDICTION else policy.numeric
        threshold = policy.prediction_psi if kind == PREDICTION else float(getattr(policy, judged))
        statistics.update(_numeric_statistics(ref, cur) if both else {"psi": None, "ks": None, "wasserstein": None})
        p_value = chi_square_p(ref.histogram, cur.histogram) if both else None
    elif isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile):
        judged = policy.categorical
        threshold = float(getattr(policy, judged))
        expected, actual = (*ref.counts, ref.other_count), (*cur.counts, cur.other_count)
        statistics.update({
            "psi": psi(expected, actual) if both else None,
            "jensen_shannon": jensen_shannon(expected, actual) if both else None,
            "unseen_share": unseen_share(ref, cur),
        })
        p_value = chi_square_p(expected, actual) if both else None
        share = statistics["unseen_share"] or 0.0
        if share > policy.unseen_share:
            effects.append(_Effect("unseen_share", share, policy.unseen_share, "distribution"))
    else:  # profile_with_edges keeps the reference's kinds, so this is a caller's mix-up
        raise MonitoringError(
            f"column {name!r} is profiled as different kinds in the reference and the current batch",
            hint="profile the current batch with profile_with_edges against the reference",
        )
    value = statistics.get(judged)
    if value is not None and value > threshold:
        effects.insert(0, _Effect(judged, value, threshold, "distribution"))
    return _Measured(name, kind, judged, threshold, statistics, p_value, null_p, tuple(effects),
                     ref.valid_count, cur.valid_count)


def _numeric_statistics(ref: NumericProfile, cur: NumericProfile) -> dict[str, float | None]:
    sd = math.sqrt(max(ref.variance or 0.0, 0.0))
    wasserstein = wasserstein_from_quantiles(ref.quantiles, cur.quantiles)
    # In units of the reference's sd; a constant reference has none, so its own scale (or 1) stands in.
    scale = sd if sd > 0 else (abs(ref.mean or 0.0) or 1.0)
    return {
        "psi": psi(ref.histogram, cur.histogram),
        "ks": ks_from_quantiles(ref.quantiles, cur.quantiles),
        "wasserstein": wasserstein / scale,
        "wasserstein_raw": wasserstein,
        "mean_reference": ref.mean,
        "mean_current": cur.mean,
        "sd_reference": sd,
        "sd_current": math.sqrt(max(cur.variance or 0.0, 0.0)),
    }


# --- the verdict -----------------------------------------------------------------------


def compare_profiles(
    reference: DatasetProfile,
    current: DatasetProfile,
    *,
    policy: DriftPolicy | None = None,
    reference_scores: DatasetProfile | None = None,
    current_scores: DatasetProfile | None = None,
    score_column: str = "score",
) -> DriftReport:
    """Judge `current` (profiled with `profile_with_edges` against `reference`) against `reference`.

    With both score profiles (one numeric column, `score_column`), the prediction is judged too, on
    PSI against `policy.prediction_psi`. Every test of every feature and of the prediction is one
    family for the Benjamini-Hochberg adjustment.
    """
    policy = policy or DriftPolicy()
    measured = []
    for name, ref in reference.columns.items():
        cur = current.columns.get(name)
        if cur is None:
            raise MonitoringError(
                f"column {name!r} of the reference is missing from the current profile",
                hint="profile the current batch with profile_with_edges against the reference",
            )
        measured.append(_measure(name, "categorical" if isinstance(ref, CategoricalProfile) else "numeric", ref, cur,
                                 policy))
    prediction = None
    if reference_scores is not None and current_scores is not None:
        ref_score = reference_scores.columns.get(score_column)
        cur_score = current_scores.columns.get(score_column)
        if ref_score is not None and cur_score is not None:
            prediction = _measure(PREDICTION, PREDICTION, ref_score, cur_score, policy)
    judged = [*measured, *([prediction] if prediction is not None else [])]
    raw = [(i, which, p) for i, m in enumerate(judged) for which, p in (("distribution", m.p_value), ("null", m.null_p_value))
           if p is not None]
    adjusted = dict(zip([(i, which) for i, which, _ in raw], benjamini_hochberg([p for _, _, p in raw]), strict=True))
    enough = current.row_count >= policy.min_rows
    results = [_judge(m, adjusted.get((i, "distribution")), adjusted.get((i, "null")), policy, enough=enough)
               for i, m in enumerate(judged)]
    return DriftReport(
        features=tuple(results[: len(measured)]),
        prediction=results[-1] if prediction is not None else None,
        rows=current.row_count,
        reference_rows=reference.row_count,
        policy=policy,
        reference=reference,
        current=current,
        reference_scores=reference_scores,
        current_scores=current_scores,
    )


def _judge(
    measured: _Measured, p_adjusted: float | None, null_p_adjusted: float | None, policy: DriftPolicy, *, enough: bool
) -> FeatureDrift:
    reasons, notes = [], []
    for effect in measured.effects:
        significant = p_adjusted if effect.test == "distribution" else null_p_adjusted
        text = f"{effect.label} {effect.value:.4g} > {effect.threshold:g}"
        if significant is not None and significant <= policy.fdr:
            reasons.append(text)
        else:
            notes.append(f"{text}, but not significant at FDR {policy.fdr:g}")
    if not enough:
        verdict: Verdict = "not enough data"
        reasons, notes = [], [f"fewer than {policy.min_rows} rows in the current batch"]
    else:
        verdict = "drift" if reasons else "no drift"
    return FeatureDrift(
        name=measured.name,
        kind=measured.kind,
        statistic=measured.statistic,
        value=measured.statistics.get(measured.statistic),
        threshold=measured.threshold,
        statistics=measured.statistics,
        p_value=measured.p_value,
        p_adjusted=p_adjusted,
        null_p_value=measured.null_p_value,
        null_p_adjusted=null_p_adjusted,
        reference_count=measured.reference_count,
        current_count=measured.current_count,
        verdict=verdict,
        reasons=tuple(reasons),
        notes=tuple(notes),
    )


# --- frames ----------------------------------------------------------------------------

_CATEGORICAL_DTYPES = (pl.String, pl.Categorical, pl.Enum, pl.Boolean)


def compare_frames(
    reference: pl.DataFrame | pl.LazyFrame,
    current: pl.DataFrame | pl.LazyFrame,
    *,
    policy: DriftPolicy | None = None,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
) -> DriftReport:
    """Drift of `current` against `reference`, two frames with the same columns (no model needed).

    Numeric (and date/time) columns are profiled as numeric; String, Categorical, Enum and Boolean
    columns, and those named in `categorical`, as categorical. `columns` limits the comparison
    (default: every column of `reference`). The reference is profiled first (its quantile edges and
    top categories), then the current batch on those edges: one polars query each.
    """
    ref_frame, cur_frame = reference.lazy(), current.lazy()
    ref_types = ref_frame.collect_schema()
    names = list(columns) if columns is not None else list(ref_types.names())
    forced = set(categorical or ())
    unknown = sorted((set(names) | forced) - set(ref_types.names()))
    if unknown:
        raise MonitoringSourceError(
            f"column(s) {', '.join(map(repr, unknown))} are not in the reference frame",
            hint=f"the reference has: {', '.join(ref_types.names())}",
        )
    schema = DataSchema(columns={name: ColumnSchema(type=_kind_of(name, ref_types[name], forced)) for name in names},
                        min_rows=None)
    profile = profile_frame(ref_frame.select(names), schema)
    cur_types = cur_frame.collect_schema()
    aligned = cur_frame.select([_aligned(name, ref_types[name], schema.columns[name].type, cur_types[name])
                                for name in names if name in cur_types])
    return compare_profiles(profile, profile_with_edges(aligned, profile), policy=policy)


def _kind_of(name: str, dtype: pl.DataType, forced: set[str]) -> Literal["float", "string"]:
    if name in forced or isinstance(dtype, _CATEGORICAL_DTYPES):
        return "string"
    if dtype.is_numeric() or dtype.is_temporal():
        return "float"
    raise MonitoringSourceError(
        f"column {name!r} has type {dtype}, which has no drift statistics",
        hint="leave it out with columns=[...], or cast it to a number or a string first",
    )


def _aligned(name: str, reference: pl.DataType, kind: str, dtype: pl.DataType) -> pl.Expr:
    """The current batch's column in a type the reference's profile can read: text holding numbers
    or dates (a CSV read as text) becomes numbers or dates; text that does not parse becomes null
    (and counts as missing)."""
    column = pl.col(name)
    if kind != "float" or dtype == reference:
        return column
    if isinstance(dtype, (pl.String, pl.Categorical, pl.Enum)):
        text = column.cast(pl.String)
        if isinstance(reference, pl.Date):
            return text.str.to_date(strict=False)
        if isinstance(reference, pl.Datetime):
            return text.str.to_datetime(strict=False).cast(reference)
        return text.cast(pl.Float64, strict=False)
    if reference.is_temporal() and dtype.is_temporal():
        return column.cast(reference)
    return column.cast(pl.Float64, strict=False)


__all__ = ["PREDICTION", "DriftReport", "FeatureDrift", "Verdict", "compare_frames", "compare_profiles"]
