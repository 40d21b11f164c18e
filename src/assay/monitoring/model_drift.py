"""A registered model's drift: its reference profile against a current batch (files, a dataset
version, or its prediction log over a window), with the prediction, and for the prediction log the
judged statistic per hour or per day across the window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from assay.data.profile import DatasetProfile, profile_with_edges
from assay.monitoring.drift import DriftReport, compare_frames, compare_profiles
from assay.monitoring.errors import MonitoringSourceError
from assay.monitoring.sources import TIME_COLUMN, CurrentData, input_names, log_source
from assay.project.calibrated import load_registered
from assay.project.reference import SCORE_COLUMN, ReferenceProfile, load_reference, score_kind_of, scores_of
from assay.project.workspace import Project
from assay.registry.records import ModelVersion
from assay.spec.monitoring import DriftPolicy
from assay.training.signature import to_model_frame
from assay.training.trainer import seeded

Bucket = Literal["hour", "day"]
HOURLY_UP_TO = timedelta(days=2)  # windows up to this long are shown per hour, longer ones per day


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """One hour or day of the window: its rows and the judged statistic per feature (and prediction)."""

    start: datetime
    rows: int
    values: Mapping[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "rows": self.rows, "values": dict(self.values)}


@dataclass(frozen=True, slots=True)
class DriftCheck:
    """What `assay monitor drift` found, and what it compared."""

    report: DriftReport
    model: str | None  # the model's ref; None when two files were compared
    reference: str  # what the reference is, in words
    current: str
    notes: tuple[str, ...] = ()
    bucket: Bucket | None = None
    timeline: tuple[TimelinePoint, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "reference": self.reference,
            "current": self.current,
            **self.report.to_dict(),
            "notes": list(self.notes),
            "timeline": None if self.bucket is None else {
                "bucket": self.bucket, "points": [p.to_dict() for p in self.timeline]},
        }


def check_model_drift(
    project: Project, model: ModelVersion, current: CurrentData, *, policy: DriftPolicy, seed: int, threads: int
) -> DriftCheck:
    """Compare `current` with the model's reference profile. Without scores in the source, the
    model scores the current rows itself (when they hold every input) for the prediction's drift."""
    reference = load_reference(project, model)
    notes = []
    if reference.origin == "recomputed":
        notes.append(f"{model.ref} was trained before reference profiles were stored: its reference was "
                     "recomputed from the run's dataset version and split manifest")
    names = [n for n in input_names(model.signature) if n in reference.features.columns]
    frame = current.frame
    present = set(frame.collect_schema().names())
    if current.kind != "prediction log" and not any(n in present for n in names):
        raise MonitoringSourceError(
            f"{current.description} has none of {model.ref}'s input columns ({', '.join(names)})",
            hint="point --data at rows with the model's inputs, or compare two files with --reference",
        )
    missing = [n for n in names if n not in present]
    if current.kind == "prediction log" and names and len(missing) == len(names):
        notes.append("the prediction log holds no predictions in this window")
    elif missing:
        notes.append(f"the current data lacks input column(s) {', '.join(missing)}: they count as all missing")
    columns = [*(n for n in names if n in present), *([SCORE_COLUMN] if current.has_scores else []),
               *([TIME_COLUMN] if current.kind == "prediction log" else [])]
    # With the scores in the source (the prediction log), everything is profiled lazily with polars'
    # streaming engine: a window larger than memory is fine. Scoring needs the rows in memory.
    rows: pl.DataFrame | pl.LazyFrame = frame.select(columns)
    if not current.has_scores:
        rows = rows.collect()
    if not current.has_scores and reference.scores is not None:
        assert isinstance(rows, pl.DataFrame)
        scored = _score(project, model, rows, seed=seed, threads=threads)
        if scored is None:
            notes.append("no prediction drift: the current data has no score column and lacks model inputs")
        else:
            rows = rows.with_columns(pl.Series(SCORE_COLUMN, scored))
    report = _compare(rows, reference, policy)
    if reference.scores is None:
        notes.append(f"no prediction drift: {model.ref}'s run held out no validation or test rows")
    bucket, timeline = None, ()
    if current.kind == "prediction log" and current.since is not None and current.until is not None:
        bucket = "hour" if current.until - current.since <= HOURLY_UP_TO else "day"
        timeline = _timeline(rows, reference, policy, bucket)
    return DriftCheck(report, model.ref, _describe(model, reference), current.description, tuple(notes), bucket,
                      timeline)


def log_window_drift(project: Project, model: ModelVersion, root: Path, *, since: datetime, until: datetime,
                     policy: DriftPolicy, reference: ReferenceProfile | None = None) -> DriftReport:
    """The drift of one window of the model's prediction log against its reference profile (no
    timeline, no scoring: the log holds the scores). `root` is the log's folder (`log_root`)."""
    reference = reference or load_reference(project, model)
    current = log_source(root, model.name, since=since, until=until, signature=model.signature, version=model.version)
    present = set(current.frame.collect_schema().names())
    names = [n for n in input_names(model.signature) if n in reference.features.columns and n in present]
    return _compare(current.frame.select([*names, SCORE_COLUMN]), reference, policy)


def check_files_drift(reference: pl.LazyFrame, current: CurrentData, *, reference_name: str,
                      policy: DriftPolicy) -> DriftCheck:
    """Two files, no model: every column of the reference file is compared."""
    report = compare_frames(reference, current.frame, policy=policy)
    return DriftCheck(report, None, f"file {reference_name}", current.description)


def _describe(model: ModelVersion, reference: ReferenceProfile) -> str:
    how = "stored with the run" if reference.origin == "training run" else "recomputed from the run's records"
    scores = f"; scores on its {reference.score_split} rows" if reference.score_split else ""
    return f"training rows of {model.ref} ({reference.features.row_count:,} rows, {how}){scores}"


def _compare(rows: pl.DataFrame | pl.LazyFrame, reference: ReferenceProfile, policy: DriftPolicy) -> DriftReport:
    engine: Literal["streaming", "in-memory"] = "streaming" if isinstance(rows, pl.LazyFrame) else "in-memory"
    features = profile_with_edges(rows, reference.features, engine=engine)
    scores: DatasetProfile | None = None
    if reference.scores is not None and SCORE_COLUMN in rows.collect_schema().names():
        scores = profile_with_edges(rows.select(SCORE_COLUMN), reference.scores, engine=engine)
    return compare_profiles(reference.features, features, policy=policy, reference_scores=reference.scores,
                            current_scores=scores, score_column=SCORE_COLUMN)


def _score(project: Project, model: ModelVersion, rows: pl.DataFrame, *, seed: int, threads: int) -> np.ndarray | None:
    """The model's scores on the rows (reduced as the reference's are), or None when inputs are missing."""
    if rows.is_empty() or any(n not in rows.columns for n in input_names(model.signature)):
        return None
    loaded = load_registered(project, model)
    with seeded(seed, threads):
        predictions = np.asarray(loaded.predict(to_model_frame(rows, model.signature)))
    return scores_of(predictions, score_kind_of(model.signature))


def _timeline(
    rows: pl.DataFrame | pl.LazyFrame, reference: ReferenceProfile, policy: DriftPolicy, bucket: Bucket
) -> tuple[TimelinePoint, ...]:
    """The judged statistic per bucket (each bucket on its own, against the same reference); one
    lazy pass per bucket, so only one bucket's profile is ever being computed."""
    every = "1h" if bucket == "hour" else "1d"
    start_of = pl.col(TIME_COLUMN).dt.truncate(every)
    starts = rows.lazy().select(start_of.unique().sort().alias("start")).collect().get_column("start").to_list()
    points = []
    for start in starts:
        if start is None:
            continue
        part = rows.lazy().filter(start_of == start).drop(TIME_COLUMN)
        report = _compare(part if isinstance(rows, pl.LazyFrame) else part.collect(), reference, policy)
        values = {f.name: f.value for f in report.features}
        if report.prediction is not None:
            values[report.prediction.name] = report.prediction.value
        points.append(TimelinePoint(start, report.rows, values))
    return tuple(points)


__all__ = ["Bucket", "DriftCheck", "TimelinePoint", "check_files_drift", "check_model_drift"]
