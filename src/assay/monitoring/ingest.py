"""`assay labels ingest`: check a labels file, store it (once), say how it joins the prediction log,
and record it in the audit log."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from assay.security.identity import Action
from assay.monitoring.labelled import (
    KEY,
    MATCHED,
    NO_PREDICTION,
    TOO_LATE,
    match_labels,
    prediction_keys,
    prediction_log_dir,
    read_predictions,
)
from assay.monitoring.labels import KeyMode, LabelColumns, label_store, read_labels_file
from assay.project.workspace import Project
from assay.spec.model import Spec
from assay.spec.monitoring import duration_s


@dataclass(frozen=True, slots=True)
class IngestSummary:
    """What one ingest did. The counts of matched, no_prediction and too_late are this file's labels;
    labelled and unlabelled count the logged predictions (request_id, row) after it."""

    model: str
    source: str
    sha256: str
    key: KeyMode
    stored: str  # the store's file, relative to the project
    new: bool  # False: the same file was ingested before, nothing was added
    labels: int
    matched: int
    no_prediction: int
    too_late: int
    superseded: int  # predictions that had a label from an earlier ingest, now replaced
    labelled: int
    unlabelled: int
    max_label_delay: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def label_columns(spec: Spec, *, label: str | None = None, entity: str | None = None, time: str | None = None) -> LabelColumns:
    """The labels file's columns: as given, else the spec's (quality.label_column or data.target, data.entity)."""
    return LabelColumns(
        label=label or spec.monitoring.quality.label_column or spec.data.target,
        entity=entity or spec.data.entity or "entity_id",
        time=time or "event_time",
    )


def max_label_delay(spec: Spec) -> timedelta:
    return timedelta(seconds=duration_s(spec.monitoring.quality.max_label_delay))


def model_classes(project: Project, spec: Spec) -> list[Any] | None:
    """The classes of the newest registered version (None for regression or before any training)."""
    if spec.model.task != "classification":
        return None
    newest = project.metadata.list_models(name=spec.model.name, limit=1)
    if not newest:
        return None
    return list(newest[0].signature.get("output", {}).get("classes") or []) or None


def ingest_labels(
    project: Project,
    path: str | Path,
    *,
    key: KeyMode,
    label_column: str | None = None,
    entity_column: str | None = None,
    time_column: str | None = None,
) -> IngestSummary:
    """Check the file (nothing is stored when any row is bad), store it unless the same file was
    ingested before, and report how its labels join the model's prediction log."""
    project.require(Action.WRITE_DATASETS, subject="labels")
    spec, _ = project.load_spec()
    columns = label_columns(spec, label=label_column, entity=entity_column, time=time_column)
    labels = read_labels_file(path, key=key, columns=columns, task=spec.model.task, classes=model_classes(project, spec))
    store = label_store(project.root, spec.model.name)
    keys = prediction_keys(read_predictions(prediction_log_dir(project.root, spec, spec.model.name)))
    delay = max_label_delay(spec)
    mine = match_labels(keys, labels.frame.with_columns(pl.lit(0, pl.Int32).alias("ingest")), max_delay=delay)
    counts = {"matched": mine.count(MATCHED), "no_prediction": mine.count(NO_PREDICTION), "too_late": mine.count(TOO_LATE)}
    superseded = 0
    with store.locked():  # two ingests of one file at once: one stores it, the other finds it stored
        earlier = store.find(labels.identity)
        if earlier is None:
            before = match_labels(keys, store.read(), max_delay=delay).current()
            superseded = mine.current().join(before, on=KEY, how="semi").height
            stored = store.add(labels, at=project.clock.now(), details=counts).path
        else:
            stored = earlier
        labelled = match_labels(keys, store.read(), max_delay=delay).current().height
    summary = IngestSummary(
        model=spec.model.name, source=labels.source, sha256=labels.sha256, key=key,
        stored=str(stored.relative_to(project.root)), new=earlier is None, labels=labels.frame.height,
        superseded=superseded, labelled=labelled, unlabelled=keys.height - labelled,
        max_label_delay=spec.monitoring.quality.max_label_delay, **counts,
    )
    project.metadata.append_audit(
        actor=project.actor, action="labels.ingest", subject=spec.model.name, at=project.clock.now(),
        details={k: v for k, v in summary.to_dict().items() if k not in ("model", "max_label_delay")},
    )
    return summary


__all__ = ["IngestSummary", "ingest_labels", "label_columns", "max_label_delay", "model_classes"]
