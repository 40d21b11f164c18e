"""A reproducible fit: seeded, thread-pinned, predictions kept for every split."""

from __future__ import annotations

import io
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from assay.errors import DataError, TrainingError
from assay.leakage.split import SplitManifest
from assay.spec.model import Spec
from assay.training.flavors import FitRequest, LoadedModel, get_flavor, project_on_path
from assay.training.signature import build_signature, categorical_columns, to_model_frame


EVALUATED_SPLITS = ("validation", "test")
ASSAY_COLUMN_PREFIX = "_assay_"  # columns Assay adds (such as the pre-split marker) are never features


@dataclass(frozen=True, slots=True)
class TrainedModel:
    flavor: str
    artifact: bytes
    signature: Mapping[str, Any]
    resolved: Mapping[str, Any]
    predictions: Mapping[str, np.ndarray]  # validation/test -> predictions on that split's rows
    labels: Mapping[str, np.ndarray]  # split -> encoded labels
    fit_seconds: float


@contextmanager
def seeded(seed: int, threads: int) -> Iterator[None]:
    """Seed Python's and numpy's global generators (for user code that uses them) and pin thread
    pools; restore both afterwards so the caller's process state is unchanged."""
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def encode_labels(y: pl.Series, task: str) -> tuple[np.ndarray, tuple[Any, ...]]:
    if y.null_count():
        raise DataError(
            f"target column {y.name!r} has {y.null_count()} missing value(s)",
            hint="drop unlabelled rows before ingest, or fill them",
        )
    if task == "regression":
        try:
            return y.cast(pl.Float64).to_numpy(), ()
        except pl.exceptions.InvalidOperationError as exc:
            raise DataError(f"target {y.name!r} is not numeric, which regression needs") from exc
    classes = tuple(y.unique().sort().to_list())
    if len(classes) < 2:
        raise DataError(f"target {y.name!r} has a single class {classes!r}", hint="classification needs two or more")
    index = {value: i for i, value in enumerate(classes)}
    return np.asarray([index[v] for v in y.to_list()], dtype=np.int64), classes


def model_features(frame: pl.DataFrame, spec: Spec, *, derived: Sequence[str] = ()) -> list[str]:
    """The model's input columns for this data: schema columns the spec allows as features, and
    the `derived` columns computed for the run (the spec's versioned features)."""
    schema = spec.data.data_schema
    available = [
        c
        for c in frame.columns
        if (schema is None or c in schema.columns or c in derived) and not c.startswith(ASSAY_COLUMN_PREFIX)
    ]
    features = spec.feature_columns(available)
    if spec.model.features.include is not None:
        unknown = sorted(set(spec.model.features.include) - set(frame.columns))
        if unknown:
            raise DataError(f"model.features.include names unknown column(s): {', '.join(unknown)}")
    if not features:
        raise TrainingError("no feature columns are left", hint="check model.features and the pii/sensitive lists")
    return features


def train(
    frame: pl.DataFrame, manifest: SplitManifest, spec: Spec, *, project_dir: Path, derived: Sequence[str] = ()
) -> TrainedModel:
    """Fit the spec's model on the train split; predict every split. Deterministic for a given input.

    `derived` names the columns computed for the run (features) that the schema does not declare."""
    data = spec.data
    if data.target not in frame.columns:
        raise DataError(
            f"target column {data.target!r} is not in the data", hint=f"columns are: {', '.join(frame.columns)}"
        )
    schema = data.data_schema
    features = model_features(frame, spec, derived=derived)
    labels_all, classes = encode_labels(frame.get_column(data.target), spec.model.task)
    train_rows = frame[manifest.indices["train"]]
    signature = build_signature(
        train_rows, features, schema=schema, task=spec.model.task, target=data.target, classes=classes
    )
    flavor = get_flavor(spec.model.flavor)
    X_all = to_model_frame(frame, signature)
    request = FitRequest(
        X=X_all.iloc[manifest.indices["train"]].reset_index(drop=True),
        y=labels_all[manifest.indices["train"]],
        model=spec.model,
        task=spec.model.task,
        classes=classes,
        categorical=tuple(categorical_columns(signature)),
        seed=spec.seed,
        project_dir=project_dir,
    )
    started = time.perf_counter()
    with seeded(spec.seed, spec.model.threads):
        fitted = flavor.fit(request)
        fit_seconds = time.perf_counter() - started
        artifact = flavor.dumps(fitted, signature=signature)
        # Predictions come from the fitted object; `assay reproduce` loads the stored artifact and
        # checks that it answers exactly these predictions (see docs/decisions/0007).
        loaded = flavor.as_loaded(fitted, signature=signature)
        predictions = {
            name: loaded.predict(X_all.iloc[manifest.indices[name]].reset_index(drop=True))
            for name in EVALUATED_SPLITS
            if len(manifest.indices[name])
        }
    labels = {name: labels_all[manifest.indices[name]] for name in predictions}
    resolved = {**fitted.resolved, "features": features, "flavor": flavor.name, "threads": spec.model.threads}
    return TrainedModel(flavor.name, artifact, signature, resolved, predictions, labels, fit_seconds)


def load_model(
    flavor: str, artifact: bytes, *, signature: Mapping[str, Any], trusted_modules: tuple[str, ...], project_dir: Path
) -> LoadedModel:
    with project_on_path(project_dir):
        return get_flavor(flavor).loads(artifact, signature=signature, trusted_modules=trusted_modules)


def predictions_to_bytes(predictions: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(predictions, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()


def predictions_from_bytes(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


__all__ = ["TrainedModel", "encode_labels", "model_features", "load_model", "predictions_from_bytes", "predictions_to_bytes", "seeded", "train"]
