"""Rebuild a registered model from its recorded lineage and prove it answers identically."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from assay.data.source import SourceRef, hash_source
from assay.errors import ArtifactError, AssayError, DataError
from assay.leakage.split import SplitManifest
from assay.project.pipeline import load_dataset_frame, make_split
from assay.project.reporter import NullReporter, Reporter
from assay.project.workspace import ModelRef, Project
from assay.spec.loader import parse_spec
from assay.training.environment import capture_environment, diff_code, diff_environments
from assay.training.trainer import predictions_from_bytes, train


@dataclass(frozen=True, slots=True)
class Reproduction:
    """What `assay reproduce` found. `ok` means identical test predictions."""

    model: str
    run_id: str
    ok: bool
    predictions_identical: bool | None
    artifact_identical: bool | None
    max_abs_difference: float | None
    rows_compared: int
    differences: tuple[str, ...] = ()  # what failed, in plain words
    environment_changes: tuple[str, ...] = ()
    code_changes: tuple[str, ...] = ()
    data_notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "run_id": self.run_id,
            "ok": self.ok,
            "predictions_identical": self.predictions_identical,
            "artifact_identical": self.artifact_identical,
            "max_abs_difference": self.max_abs_difference,
            "rows_compared": self.rows_compared,
            "differences": list(self.differences),
            "environment_changes": list(self.environment_changes),
            "code_changes": list(self.code_changes),
            "data_notes": list(self.data_notes),
        }


def reproduce(project: Project, ref: str | ModelRef, *, reporter: Reporter | None = None) -> Reproduction:
    """Retrain from the recorded dataset snapshot, spec snapshot and seed; compare with the record.

    Never raises for a mismatch: the result says what differs and why it might. Raises only when
    the model or its run cannot be found.
    """
    reporter = reporter or NullReporter()
    model = project.resolve_model(ref)
    run = project.metadata.get_run(model.run_id)
    dataset = project.metadata.get_dataset(run.dataset_version_id)
    environment = capture_environment(project.root)
    env_changes = tuple(diff_environments(run.environment, environment))
    code_changes = tuple(diff_code(run.environment, environment))
    data_notes: list[str] = []

    def failed(*why: str) -> Reproduction:
        return Reproduction(
            model.ref, run.id, False, None, None, None, 0, tuple(why), env_changes, code_changes, tuple(data_notes)
        )

    try:
        current_hash, _ = hash_source(SourceRef.resolve(dataset.source_uri, base_dir=project.root))
        if current_hash != dataset.content_hash:
            data_notes.append(
                f"the source {dataset.source_uri} changed since it was ingested; reproduction uses the recorded snapshot"
            )
    except DataError:
        data_notes.append(f"the source {dataset.source_uri} is no longer readable; reproduction uses the recorded snapshot")

    with reporter.stage("load lineage"):
        try:
            spec_text = project.artifacts.get_bytes(run.spec_sha256).decode("utf-8")
            spec = parse_spec(spec_text, source=f"spec snapshot of {run.id}")
        except AssayError as exc:
            return failed(f"spec: the recorded spec snapshot cannot be used: {_first_line(exc)}")
        try:
            frame = load_dataset_frame(project, dataset)
        except ArtifactError as exc:
            return failed(
                f"data: the snapshot of dataset {dataset.id} (artifact {dataset.snapshot_sha256[:12]}) "
                f"is not what was recorded: {_first_line(exc)}"
            )
        try:
            recorded_manifest = SplitManifest.from_json_bytes(project.artifacts.get_bytes(run.artifacts["split"]))
            recorded_test = predictions_from_bytes(project.artifacts.get_bytes(run.artifacts["predictions.test"]))
        except (ArtifactError, KeyError) as exc:
            return failed(f"run record: a recorded artifact of {run.id} is missing or altered: {_first_line(exc)}")

    with reporter.stage("split"):
        manifest = make_split(frame, dataset, spec)
        differences: list[str] = []
        if manifest.sha256 != recorded_manifest.sha256:
            differences.append(
                "split: re-splitting the snapshot gave different rows than the recorded manifest "
                "(the split code or its libraries changed); the recorded manifest is used"
            )
    with reporter.stage("retrain"):
        trained = train(frame, recorded_manifest, spec, project_dir=project.root)
    rebuilt_test = trained.predictions["test"]
    artifact_identical = _sha(trained.artifact) == model.artifact_sha256
    if rebuilt_test.shape != recorded_test.shape:
        predictions_identical, max_diff = False, None
        differences.append(f"predictions: shape {rebuilt_test.shape} differs from recorded {recorded_test.shape}")
    else:
        predictions_identical = bool(np.array_equal(rebuilt_test, recorded_test))
        max_diff = float(np.max(np.abs(rebuilt_test - recorded_test))) if rebuilt_test.size else 0.0
        if not predictions_identical:
            changed = int(np.sum(np.any(rebuilt_test != recorded_test, axis=-1) if rebuilt_test.ndim > 1 else rebuilt_test != recorded_test))
            differences.append(
                f"predictions: {changed} of {len(rebuilt_test)} test rows differ (largest difference {max_diff:.3g})"
            )
    if not artifact_identical:
        differences.append(
            f"artifact: the rebuilt model's bytes differ from the registered artifact {model.artifact_sha256[:12]}"
        )
    ok = predictions_identical and not any(d.startswith("split") for d in differences)
    return Reproduction(
        model=model.ref,
        run_id=run.id,
        ok=ok,
        predictions_identical=predictions_identical,
        artifact_identical=artifact_identical,
        max_abs_difference=max_diff,
        rows_compared=len(rebuilt_test),
        differences=tuple(differences),
        environment_changes=env_changes,
        code_changes=code_changes,
        data_notes=tuple(data_notes),
    )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0]


__all__ = ["Reproduction", "reproduce"]
