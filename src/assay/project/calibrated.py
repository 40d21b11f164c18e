"""A fitted model and the calibrator that belongs to it: fitting both (the calibrator on training
rows held out from the model), and loading a registered model so that it always answers the
calibrated probability (decision: evaluation.calibration in docs/spec.md)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from assay.errors import DataError
from assay.evaluation.calibration import (
    Calibrator,
    carve_calibration_split,
    expected_calibration_error,
    fit_calibrator,
    reliability,
)
from assay.project.package import CALIBRATOR_ROLE, ModelPackage, package_registered
from assay.registry.records import ModelVersion, Run
from assay.training.flavors import LoadedModel
from assay.training.signature import to_model_frame
from assay.training.trainer import (
    TrainedModel,
    encode_labels,
    load_model,
    seeded,
    train,
)

if TYPE_CHECKING:
    from assay.leakage.split import SplitManifest
    from assay.project.workspace import Project
    from assay.spec.model import Spec

def load_package(package: ModelPackage) -> LoadedModel:
    """The packaged model, answering calibrated probabilities when its run fitted a calibrator. The
    artifact's hash is checked again here: a package may have travelled between processes."""
    package.verify()
    loaded = load_model(package.flavor, package.artifact, signature=package.signature,
                        trusted_modules=package.trusted_modules, project_dir=package.project_dir)
    calibrator = None if package.calibrator is None else Calibrator.from_dict(package.calibrator)
    return with_calibrator(loaded, calibrator)


def load_registered(project: Project, model: ModelVersion, *, run: Run | None = None) -> LoadedModel:
    """A registered model's artifact, loaded with the trust list its run recorded, and with the
    calibrator its run fitted, if any: what the model answers is always the calibrated probability."""
    return load_package(package_registered(project, model, run=run))




@dataclass(frozen=True, slots=True)
class Calibration:
    """The calibrator a run fitted on its held-out training rows, and what it changed on them."""

    calibrator: Calibrator
    rows: np.ndarray  # positions (in the dataset version) of the training rows it was fitted on
    ece_before: float
    ece_after: float
    bins_before: tuple[dict[str, Any], ...]

    def summary(self) -> dict[str, Any]:
        return {"method": self.calibrator.method, "rows": len(self.rows), "ece_before": self.ece_before,
                "ece_after": self.ece_after, "bins_before": list(self.bins_before)}

    def to_json_bytes(self) -> bytes:
        body = {**self.summary(), "calibrator": self.calibrator.to_dict(), "row_indices": self.rows.tolist()}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class _Calibrated:
    """A binary classifier whose positive-class probability goes through a calibrator."""

    inner: LoadedModel
    calibrator: Calibrator

    @property
    def flavor(self) -> str:
        return self.inner.flavor

    @property
    def fast_path(self) -> bool:
        return bool(getattr(self.inner, "fast_path", False))

    def predict(self, X: Any) -> np.ndarray:
        return _calibrate(np.asarray(self.inner.predict(X)), self.calibrator)

    def predict_polars(self, frame: pl.DataFrame) -> np.ndarray | None:
        inner = getattr(self.inner, "predict_polars", None)
        raw = inner(frame) if inner is not None else None
        return None if raw is None else _calibrate(np.asarray(raw), self.calibrator)


def with_calibrator(loaded: LoadedModel, calibrator: Calibrator | None) -> LoadedModel:
    return loaded if calibrator is None else _Calibrated(loaded, calibrator)


def _calibrate(probabilities: np.ndarray, calibrator: Calibrator) -> np.ndarray:
    positive = np.clip(calibrator.apply(probabilities[:, 1]), 0.0, 1.0)
    return np.column_stack([1.0 - positive, positive])


def fit_model(
    frame: pl.DataFrame, manifest: SplitManifest, spec: Spec, *, project_dir: Path, derived: Sequence[str] = ()
) -> tuple[TrainedModel, Calibration | None]:
    """Fit the spec's model; with evaluation.calibration, on the training rows less a held-out
    share, then fit the calibrator on that share's predictions (never on validation or test rows)
    and return the model's validation and test predictions calibrated. Deterministic."""
    method = spec.evaluation.calibration.method
    if method == "none":
        return train(frame, manifest, spec, project_dir=project_dir, derived=derived), None
    train_rows = manifest.indices["train"]
    labels_all, classes = encode_labels(frame.get_column(spec.data.target), spec.model.task)
    if len(classes) != 2:
        raise DataError(
            f"evaluation.calibration needs a binary target; {spec.data.target!r} has {len(classes)} classes",
            hint="remove evaluation.calibration (set method: none)",
        )
    carved = carve_calibration_split(train_rows, fraction=spec.evaluation.calibration.fraction, seed=spec.seed,
                                     labels=labels_all[train_rows])
    fit_manifest = replace(manifest, indices={**manifest.indices, "train": carved.fit_indices})
    trained = train(frame, fit_manifest, spec, project_dir=project_dir, derived=derived)
    loaded = load_model(trained.flavor, trained.artifact, signature=trained.signature,
                        trusted_modules=tuple(trained.resolved.get("trusted_modules", ())), project_dir=project_dir)
    held = frame[carved.calibration_indices]
    with seeded(spec.seed, spec.model.threads):
        scores = np.asarray(loaded.predict(to_model_frame(held, trained.signature)))[:, 1]
    held_labels = labels_all[carved.calibration_indices]
    calibrator = fit_calibrator(method, scores, held_labels)
    before = reliability(held_labels, scores)
    calibration = Calibration(
        calibrator=calibrator,
        rows=carved.calibration_indices,
        ece_before=before.expected_calibration_error,
        ece_after=expected_calibration_error(held_labels, np.clip(calibrator.apply(scores), 0.0, 1.0)),
        bins_before=tuple({"mean_predicted": b.mean_predicted, "observed_rate": b.observed_rate, "count": b.count}
                          for b in before.bins),
    )
    calibrated = {name: _calibrate(p, calibrator) for name, p in trained.predictions.items()}
    return replace(trained, predictions=calibrated), calibration


__all__ = ["CALIBRATOR_ROLE", "Calibration", "fit_model", "load_package", "load_registered", "with_calibrator"]
