"""Quality against delayed labels: the spec's metrics over windows of labelled predictions, with
bootstrap intervals, next to the model's offline (test split) evaluation.

A window holds the predictions *made* in it (by their logged time) that have a label by now. Below
`monitoring.quality.min_labels` labelled predictions a window is "not enough data": no value and no
verdict. A window's metric has *dropped* when its whole interval lies on the bad side of the
offline value (below it for roc_auc, above it for log_loss): the verdict `assay monitor quality`
exits 1 on, for the primary metric.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from assay.evaluation import Metric, compute_metrics
from assay.evaluation.bootstrap import bootstrap_cis
from assay.evaluation.metrics import metric_value
from assay.monitoring.errors import MonitoringError
from assay.monitoring.ingest import max_label_delay
from assay.monitoring.labelled import (
    labelled_predictions,
    match_labels,
    prediction_keys,
    prediction_log_dir,
    read_predictions,
)
from assay.monitoring.labels import LabelsFileError, canonical_label, label_store
from assay.project.workspace import Project
from assay.registry.records import PRODUCTION_ALIAS, ModelVersion
from assay.spec.evaluation import CLASSIFICATION_METRICS, REGRESSION_METRICS
from assay.spec.model import Spec
from assay.spec.monitoring import duration_s

# The metrics with a bootstrap interval, as the evaluation resamples them (decisions at 0.5).
_BINARY = {"roc_auc": Metric("roc_auc"), "pr_auc": Metric("pr_auc"), "log_loss": Metric("log_loss"),
           "brier": Metric("brier"), "accuracy": Metric("accuracy", threshold=0.5), "f1": Metric("f1", threshold=0.5)}
_REGRESSION = {"rmse": Metric("rmse"), "mae": Metric("mae"), "mape": Metric("mape")}
_NEED_BOTH_CLASSES = frozenset({"roc_auc", "pr_auc", "f1"})
_LOWER_IS_BETTER = frozenset({"log_loss", "brier", "rmse", "mae", "mape"})


class QualityMetricError(MonitoringError, ValueError):
    """A quality metric that the model's task does not have."""

    code = "quality-metric-unknown"


class NoLabelsError(MonitoringError, LookupError):
    """No labelled predictions to judge: no labels were ingested, or none joined this model's predictions."""

    code = "quality-no-labels"


@dataclass(frozen=True, slots=True)
class QualityWindow:
    """One metric over one window. `value`, `low` and `high` are None when the window has too few
    labelled predictions (`enough` False) or the metric is undefined there (one class only)."""

    metric: str
    value: float | None
    n: int
    low: float | None
    high: float | None
    enough: bool


@dataclass(frozen=True, slots=True)
class MetricResult:
    """One metric in one window, next to its offline value."""

    metric: str
    value: float | None
    low: float | None
    high: float | None
    offline: float | None
    difference: float | None  # value - offline
    higher_is_better: bool
    dropped: bool  # the whole interval is on the bad side of the offline value


@dataclass(frozen=True, slots=True)
class WindowResult:
    since: datetime
    until: datetime
    n: int  # labelled predictions of the model in the window
    positives: int | None  # binary classification only
    enough: bool
    metrics: tuple[MetricResult, ...]

    @property
    def primary(self) -> MetricResult:
        return self.metrics[0]


@dataclass(frozen=True, slots=True)
class QualityReport:
    model: str
    primary: str
    window: str
    level: float
    resamples: int
    min_labels: int
    labelled: int  # the model's logged predictions with a label, over the whole log
    unlabelled: int
    windows: tuple[WindowResult, ...]

    @property
    def dropped(self) -> bool:
        """The verdict: some window's primary metric dropped below the offline value."""
        return any(w.primary.dropped for w in self.windows)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["dropped"] = self.dropped
        return out


# --- loading --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Labelled:
    spec: Spec
    model: ModelVersion
    rows: pl.DataFrame  # the model version's labelled predictions: at, label, output, score
    unlabelled: int


def resolve_monitored(project: Project, spec: Spec, model_ref: str | None) -> ModelVersion:
    """The model named, else the one in production, else the newest version of the spec's model."""
    if model_ref:
        return project.resolve_model(model_ref)
    name = spec.model.name
    in_production = project.metadata.get_alias(name, PRODUCTION_ALIAS) is not None
    return project.resolve_model(f"{name}@{PRODUCTION_ALIAS}" if in_production else name)


def _load(project: Project, model_ref: str | None, *, require_labels: bool = True) -> _Labelled:
    spec, _ = project.load_spec()
    model = resolve_monitored(project, spec, model_ref)
    store = label_store(project.root, model.name)
    if require_labels and not store.files():
        raise NoLabelsError(
            f"no labels were ingested for {model.name}",
            hint="ingest delayed outcomes first: `assay labels ingest FILE --key request_id` (docs/monitoring.md)",
        )
    predictions = read_predictions(prediction_log_dir(project.root, spec, model.name))
    matching = match_labels(prediction_keys(predictions), store.read(), max_delay=max_label_delay(spec))
    mine = predictions.filter(pl.col("model_version") == model.version)
    rows = labelled_predictions(mine, matching).select("at", "label", "output", "score").sort("at")
    return _Labelled(spec, model, rows, mine.height - rows.height)


# --- metrics ----------------------------------------------------------------------


def _allowed(spec: Spec, metric: str) -> None:
    allowed = CLASSIFICATION_METRICS if spec.model.task == "classification" else REGRESSION_METRICS
    if metric not in allowed:
        raise QualityMetricError(
            f"{metric!r} is not a quality metric of a {spec.model.task} model",
            hint=f"use one of {', '.join(allowed)}",
        )


@dataclass(frozen=True, slots=True)
class _Arrays:
    y: np.ndarray
    f: np.ndarray  # scores (binary), values (regression) or class probabilities (multiclass)
    binary: bool
    regression: bool


def _arrays(rows: pl.DataFrame, spec: Spec, model: ModelVersion) -> _Arrays:
    if spec.model.task != "classification":
        return _Arrays(rows.get_column("label").cast(pl.Float64).to_numpy(),
                       rows.get_column("score").cast(pl.Float64).to_numpy(), binary=False, regression=True)
    classes = [canonical_label(c) for c in model.signature.get("output", {}).get("classes") or []]
    index = {c: i for i, c in enumerate(classes)}
    labels = rows.get_column("label").to_list()
    unknown = sorted({v for v in labels if v not in index})
    if unknown:
        raise LabelsFileError(
            f"labels of {model.ref} include {', '.join(map(repr, unknown[:5]))}, which are not its classes ({', '.join(classes)})",
            hint="ingest corrected labels (a later ingest supersedes earlier labels of the same predictions)",
        )
    y = np.fromiter((index[v] for v in labels), np.int64, len(labels))
    if len(classes) == 2:
        return _Arrays(y, rows.get_column("score").cast(pl.Float64).to_numpy(), binary=True, regression=False)
    proba = np.array(rows.get_column("output").to_list(), dtype=np.float64).reshape(len(labels), len(classes))
    return _Arrays(y, proba, binary=False, regression=False)


def _evaluate(
    names: Sequence[str], data: _Arrays, *, resamples: int, level: float, seed: int
) -> dict[str, tuple[float | None, float | None, float | None]]:
    """name -> (value, low, high) on all rows given; intervals for the metrics the bootstrap has."""
    kernels = _BINARY if data.binary else _REGRESSION if data.regression else {}
    single_class = data.binary and len(np.unique(data.y)) < 2
    out: dict[str, tuple[float | None, float | None, float | None]] = {}
    resampled = {}
    for name in names:
        if single_class and name in _NEED_BOTH_CLASSES:
            out[name] = (None, None, None)
        elif name in kernels and resamples:
            resampled[name] = kernels[name]
        elif name in kernels:
            value = metric_value(kernels[name], data.y, data.f)
            out[name] = (value if math.isfinite(value) else None, None, None)
        else:  # r2 and multiclass metrics: a value, no interval (as in the offline evaluation)
            task = "regression" if data.regression else "classification"
            predictions = data.f if not data.binary else np.column_stack([1 - data.f, data.f])
            out[name] = (compute_metrics(task, data.y, predictions, [name])[name], None, None)
    if resampled:
        found = bootstrap_cis(list(resampled.values()), data.y, data.f, seed=seed, n_resamples=resamples, level=level)
        for name, metric in resampled.items():
            ci = found[metric.label]
            out[name] = (ci.estimate, ci.low, ci.high)
    return {name: out[name] for name in names}


def window_metric(project: Project, model_ref: str, metric: str, since: datetime, until: datetime) -> QualityWindow:
    """`metric` over the labelled predictions `model_ref` made in [since, until), with its interval
    at the spec's confidence level. The quality SLOs call this; without any labels yet it answers
    `enough=False` with n=0 rather than failing."""
    loaded = _load(project, model_ref, require_labels=False)
    spec = loaded.spec
    _allowed(spec, metric)
    rows = _in_window(loaded.rows, since, until)
    enough = rows.height >= spec.monitoring.quality.min_labels
    if not enough:
        return QualityWindow(metric, None, rows.height, None, None, enough=False)
    confidence = spec.evaluation.confidence
    value, low, high = _evaluate([metric], _arrays(rows, spec, loaded.model), resamples=confidence.resamples,
                                 level=confidence.level, seed=spec.seed)[metric]
    return QualityWindow(metric, value, rows.height, low, high, enough=True)


def _in_window(rows: pl.DataFrame, since: datetime, until: datetime) -> pl.DataFrame:
    return rows.filter((pl.col("at") >= since.astimezone(UTC)) & (pl.col("at") < until.astimezone(UTC)))


# --- the report -------------------------------------------------------------------


def offline_metrics(project: Project, model: ModelVersion) -> dict[str, float | None]:
    """The model's test-split metrics, from its run's evaluation (else what the registry recorded)."""
    sha256 = project.metadata.get_run(model.run_id).artifacts.get("evaluation")
    if sha256 is None:
        return {k: v for k, v in model.metrics.items() if isinstance(v, (int, float)) or v is None}
    document = json.loads(project.artifacts.get_bytes(sha256))
    return dict(document.get("metrics", {}).get("test", {}))


def _boundary_after(moment: datetime, length: timedelta) -> datetime:
    """The first whole UTC day (hour, minute for shorter windows) after `moment`: windows end on round times."""
    unit = timedelta(days=1) if length >= timedelta(days=1) else timedelta(hours=1) if length >= timedelta(hours=1) \
        else timedelta(minutes=1)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment.astimezone(UTC) - epoch) // unit + 1) * unit


def window_bounds(since: datetime, until: datetime, length: timedelta, last: int | None) -> list[tuple[datetime, datetime]]:
    """Consecutive windows of `length` ending at `until`, back until one holds `since` (or `last` of them), oldest first."""
    count = max(1, math.ceil((until - since) / length))
    if last is not None:
        count = min(count, last)
    return [(until - (k + 1) * length, until - k * length) for k in reversed(range(count))]


def quality_report(
    project: Project,
    model_ref: str | None = None,
    *,
    window: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    last: int | None = None,
) -> QualityReport:
    """Every spec metric over each window, next to the offline value. Without `since`/`until` the
    windows cover the labelled period: they end at the first whole UTC day (hour, for windows under
    a day) after the newest labelled prediction."""
    loaded = _load(project, model_ref)
    spec, model, rows = loaded.spec, loaded.model, loaded.rows
    if rows.is_empty() and (since is None or until is None):
        raise NoLabelsError(
            f"no labelled predictions of {model.ref}: {loaded.unlabelled} logged prediction(s), none with a label",
            hint="check that the labels' keys match the log (`assay labels ingest` says how many matched), "
            "or name another version with --model",
        )
    quality = spec.monitoring.quality
    length = window or quality.window
    step = timedelta(seconds=duration_s(length))
    at = rows.get_column("at")
    end = until or _boundary_after(at.max(), step)  # type: ignore[arg-type]
    start = since or at.min()
    bounds = window_bounds(start, end, step, last)  # type: ignore[arg-type]
    offline = offline_metrics(project, model)
    confidence = spec.evaluation.confidence
    windows = []
    for lower, upper in bounds:
        part = _in_window(rows, lower, upper)
        enough = part.height >= quality.min_labels
        data = _arrays(part, spec, model) if not part.is_empty() else None
        values = (_evaluate(spec.metrics, data, resamples=confidence.resamples, level=confidence.level, seed=spec.seed)
                  if enough and data is not None else {})
        windows.append(WindowResult(
            since=lower, until=upper, n=part.height,
            positives=int(data.y.sum()) if data is not None and data.binary else None,
            enough=enough, metrics=tuple(_result(name, values.get(name), offline.get(name)) for name in spec.metrics),
        ))
    return QualityReport(
        model=model.ref, primary=spec.primary_metric, window=length, level=confidence.level,
        resamples=confidence.resamples, min_labels=quality.min_labels, labelled=rows.height,
        unlabelled=loaded.unlabelled, windows=tuple(windows),
    )


def _result(name: str, found: tuple[float | None, float | None, float | None] | None, offline: float | None) -> MetricResult:
    value, low, high = found or (None, None, None)
    higher = name not in _LOWER_IS_BETTER
    dropped = low is not None and high is not None and offline is not None and (high < offline if higher else low > offline)
    return MetricResult(
        metric=name, value=value, low=low, high=high, offline=offline,
        difference=None if value is None or offline is None else value - offline,
        higher_is_better=higher, dropped=dropped,
    )


__all__ = [
    "MetricResult",
    "NoLabelsError",
    "QualityMetricError",
    "QualityReport",
    "QualityWindow",
    "WindowResult",
    "offline_metrics",
    "quality_report",
    "resolve_monitored",
    "window_bounds",
    "window_metric",
]
