"""Evaluate a registered model again, on a dataset version of choice: `assay evaluate`.

The rows are the model's own test rows when the dataset is the one it was trained on (never its
training rows), else every row of the chosen version (a newer, labelled month, say). The
evaluation follows the current spec's `evaluation` section, with the model's recorded decision
threshold (a threshold is chosen once, on validation rows, when the model is trained). Nothing
is recorded: the result is printed, with what each stage cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from assay.errors import DataError, NotFoundError
from assay.evaluation.assessment import Assessment, assess
from assay.evaluation.threshold import ThresholdChoice
from assay.leakage.split import SplitManifest
from assay.project.feature_set import add_features, recorded_definitions, snapshot_events, spine_time_of
from assay.project.calibrated import load_registered
from assay.project.costs import CostMeter
from assay.project.pipeline import champions_for, load_dataset_frame
from assay.project.workspace import ModelRef, Project
from assay.registry.records import DatasetVersion, ModelVersion
from assay.spec.model import Spec
from assay.training.signature import to_model_frame
from assay.training.trainer import seeded


@dataclass(frozen=True, slots=True)
class Reevaluation:
    model: ModelVersion
    dataset: DatasetVersion
    rows: str  # which rows were scored, in words
    row_count: int
    assessment: Assessment
    costs: Mapping[str, Any] = field(default_factory=dict)  # stage -> {wall_s, cpu_s, peak_rss_mib}, "total"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.ref,
            "dataset_version": self.dataset.id,
            "rows": self.rows,
            "row_count": self.row_count,
            **self.assessment.to_dict(),
            "costs": dict(self.costs),
        }


def evaluate_model(project: Project, ref: str | ModelRef, *, dataset_id: str | None = None, spec: Spec | None = None) -> Reevaluation:
    """The model evaluated on a dataset version (see the module docstring), with what each stage
    cost (load, features, predict, assess: wall, CPU, peak memory)."""
    meter = CostMeter()
    try:
        result = _evaluate(project, ref, dataset_id=dataset_id, spec=spec or project.load_spec()[0], meter=meter)
    finally:
        meter.close()
    return replace(result, costs=meter.to_dict())


def _evaluate(project: Project, ref: str | ModelRef, *, dataset_id: str | None, spec: Spec, meter: CostMeter) -> Reevaluation:
    model = project.resolve_model(ref)
    run = project.metadata.get_run(model.run_id)
    with meter.stage("load"):
        dataset = _dataset(project, spec, dataset_id)
        frame = load_dataset_frame(project, dataset)
        loaded = load_registered(project, model, run=run)
    definitions = recorded_definitions(run.params)
    if definitions:
        with meter.stage("features"):
            events = {source: snap.frame for source, snap in snapshot_events(project, spec, definitions).items()}
            frame = add_features(frame, events, definitions, spine_time=spine_time_of(spec))
    if dataset.id == run.dataset_version_id:
        manifest = SplitManifest.from_json_bytes(project.artifacts.get_bytes(run.artifacts["split"]))
        rows, described = frame[manifest.indices["test"]], f"the test split of run {run.id}"
    else:
        rows, described = frame, f"all rows of {dataset.id}"
    target = spec.data.target
    if target not in rows.columns:
        raise DataError(f"dataset version {dataset.id} has no target column {target!r}",
                        hint="evaluate on a labelled dataset version")
    labels = _encode(rows.get_column(target), model)
    with meter.stage("predict"), seeded(spec.seed, spec.model.threads):
        predictions = np.asarray(loaded.predict(to_model_frame(rows, model.signature)))
    recorded = run.metrics.get("decision")
    decided = ThresholdChoice(**{k: recorded[k] for k in ThresholdChoice.__dataclass_fields__ if k in recorded}) if recorded else None
    with meter.stage("assess"):
        assessment = assess(
            spec.evaluation,
            task=spec.model.task,
            metric_names=spec.metrics,
            labels={"test": labels},
            predictions={"test": predictions},
            seed=spec.seed,
            champions=[c for c in champions_for(project, spec, rows) if c.ref != model.ref],
            sensitive={c: rows.get_column(c).to_numpy() for c in spec.data.sensitive if c in rows.columns},
            slice_columns={c: rows.get_column(c).to_numpy() for c in spec.evaluation.slices if c in rows.columns},
            decided=decided if spec.evaluation.decision is not None else None,
        )
    return Reevaluation(model, dataset, described, rows.height, assessment)


def _dataset(project: Project, spec: Spec, dataset_id: str | None) -> DatasetVersion:
    if dataset_id is not None:
        return project.metadata.get_dataset(dataset_id)
    newest = project.metadata.list_datasets(name=spec.dataset_name, limit=1)
    if not newest:
        raise NotFoundError("dataset version", spec.dataset_name, hint="run `assay ingest` first, or pass --dataset")
    return newest[0]


def _encode(values: pl.Series, model: ModelVersion) -> np.ndarray:
    """Labels as the model's class indices (classification) or numbers (regression)."""
    output = model.signature.get("output", {})
    if values.null_count():
        raise DataError(f"the target has {values.null_count()} missing value(s)", hint="evaluate on labelled rows only")
    if output.get("kind") != "probability":
        return values.cast(pl.Float64).to_numpy()
    classes = list(output.get("classes", []))
    index = {str(c): i for i, c in enumerate(classes)}
    unknown = sorted({str(v) for v in values.to_list()} - set(index))
    if unknown:
        raise DataError(f"the target has value(s) {unknown[:5]} that {model.ref} never saw (it knows {classes})",
                        hint="evaluate on data with the same classes")
    return np.asarray([index[str(v)] for v in values.to_list()], dtype=np.int64)


__all__ = ["Reevaluation", "evaluate_model"]
