"""A model's reference profile: what its training rows and its held-out scores looked like.

Written with every training run (artifact role `reference_profile`), so monitoring compares live
traffic with the model's own training data without ever reading that data again. Models trained
before the role existed get the same profile recomputed from their dataset version and split
manifest (`load_reference`), marked as recomputed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from assay.data.dataset import read_snapshot
from assay.data.profile import DatasetProfile, profile_frame
from assay.errors import DataError
from assay.leakage.split import SplitManifest
from assay.project.feature_set import add_features, load_event_snapshots, recorded_definitions, spine_time_of
from assay.project.workspace import Project
from assay.registry.records import ModelVersion, Run
from assay.spec.loader import parse_spec
from assay.spec.model import ColumnSchema, DataSchema
from assay.training.trainer import predictions_from_bytes

REFERENCE_ROLE = "reference_profile"
FORMAT_VERSION = 1
SCORE_COLUMN = "score"
ScoreKind = Literal["positive_probability", "max_probability", "value"]
Origin = Literal["training run", "recomputed"]


@dataclass(frozen=True, slots=True)
class ReferenceProfile:
    """The profile of the training rows over the model's inputs, and of the model's scores on its
    validation rows (test rows when the split has no validation rows).

    The score is one number per row: the positive class's probability (binary classification), the
    largest class probability (multiclass: the model's confidence), or the predicted value
    (regression). The prediction log and `assay score` outputs reduce to the same number.
    """

    features: DatasetProfile
    scores: DatasetProfile | None  # one numeric column, SCORE_COLUMN; None when no split was held out
    score_kind: ScoreKind
    score_split: str | None
    origin: Origin = "training run"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "features": self.features.to_dict(),
            "scores": None if self.scores is None else self.scores.to_dict(),
            "score_kind": self.score_kind,
            "score_split": self.score_split,
        }

    def to_bytes(self) -> bytes:
        """Compact JSON in a fixed key order (columns in the signature's order): the same profile
        always gives the same bytes, so the same artifact address."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_bytes(cls, data: bytes, *, origin: Origin = "training run") -> ReferenceProfile:
        document = json.loads(data)
        if document.get("format") != FORMAT_VERSION:
            raise DataError(
                f"reference profile format {document.get('format')!r} is not supported (expected {FORMAT_VERSION})",
                hint="upgrade assay, or retrain the model so its run stores a current reference profile",
            )
        scores = document.get("scores")
        return cls(
            features=DatasetProfile.from_dict(document["features"]),
            scores=None if scores is None else DatasetProfile.from_dict(scores),
            score_kind=document["score_kind"],
            score_split=document.get("score_split"),
            origin=origin,
        )


def input_schema(signature: Mapping[str, Any]) -> DataSchema:
    """The model's inputs as a schema to profile them with (no column is left out as an id)."""
    columns = {c["name"]: ColumnSchema(type=c["type"]) for c in signature["inputs"]}
    return DataSchema(columns=columns, min_rows=None)


def score_kind_of(signature: Mapping[str, Any]) -> ScoreKind:
    output = signature.get("output", {})
    if output.get("kind") != "probability":
        return "value"
    return "max_probability" if len(output.get("classes") or []) > 2 else "positive_probability"


def scores_of(predictions: np.ndarray, kind: ScoreKind) -> np.ndarray:
    """One score per row from a model's predictions (see ReferenceProfile for the choice)."""
    values = np.asarray(predictions, dtype=np.float64)
    if kind == "value":
        return values.reshape(len(values), -1)[:, 0] if values.ndim > 1 else values
    if kind == "positive_probability":
        return values[:, 1]
    return values.max(axis=1)


def score_schema() -> DataSchema:
    return DataSchema(columns={SCORE_COLUMN: ColumnSchema(type="float")}, min_rows=None)


def build_reference(
    training_rows: pl.DataFrame,
    signature: Mapping[str, Any],
    predictions: Mapping[str, np.ndarray],
    *,
    origin: Origin = "training run",
) -> ReferenceProfile:
    """Profile the training rows over the signature's inputs and the held-out scores. Deterministic:
    the same rows and predictions give the same profile, to the byte."""
    schema = input_schema(signature)
    features = profile_frame(training_rows.select(list(schema.columns)), schema)
    kind = score_kind_of(signature)
    split = next((name for name in ("validation", "test") if name in predictions and len(predictions[name])), None)
    scores = None
    if split is not None:
        values = pl.DataFrame({SCORE_COLUMN: scores_of(predictions[split], kind)})
        scores = profile_frame(values, score_schema())
    return ReferenceProfile(features=features, scores=scores, score_kind=kind, score_split=split, origin=origin)


def load_reference(project: Project, model: ModelVersion) -> ReferenceProfile:
    """The reference profile the model's run stored; for a run that predates it, the same profile
    recomputed from the recorded dataset snapshot, split manifest, event snapshots and predictions
    (its `origin` then says "recomputed")."""
    run = project.metadata.get_run(model.run_id)
    stored = run.artifacts.get(REFERENCE_ROLE)
    if stored is not None:
        return ReferenceProfile.from_bytes(project.artifacts.get_bytes(stored))
    return recompute_reference(project, model, run=run)


def recompute_reference(project: Project, model: ModelVersion, *, run: Run | None = None) -> ReferenceProfile:
    """The reference profile rebuilt from the run's records (what a run stores since this role exists)."""
    run = run or project.metadata.get_run(model.run_id)
    if "split" not in run.artifacts:
        raise DataError(
            f"{model.ref} has no reference profile and its run {run.id} recorded no split manifest",
            hint="retrain the model (`assay train`): new runs store their reference profile",
        )
    dataset = project.metadata.get_dataset(run.dataset_version_id)
    frame = read_snapshot(project.artifacts.get_bytes(dataset.snapshot_sha256))
    definitions = recorded_definitions(run.params)
    if definitions:
        spec = parse_spec(project.artifacts.get_bytes(run.spec_sha256).decode("utf-8"), source=f"spec of {run.id}")
        frame = add_features(frame, load_event_snapshots(project, run.artifacts), definitions,
                             spine_time=spine_time_of(spec))
    manifest = SplitManifest.from_json_bytes(project.artifacts.get_bytes(run.artifacts["split"]))
    predictions = {
        split: predictions_from_bytes(project.artifacts.get_bytes(run.artifacts[f"predictions.{split}"]))
        for split in ("validation", "test")
        if f"predictions.{split}" in run.artifacts
    }
    return build_reference(frame[manifest.indices["train"]], model.signature, predictions, origin="recomputed")


__all__ = [
    "REFERENCE_ROLE",
    "SCORE_COLUMN",
    "ReferenceProfile",
    "build_reference",
    "input_schema",
    "load_reference",
    "recompute_reference",
    "score_kind_of",
    "score_schema",
    "scores_of",
]
