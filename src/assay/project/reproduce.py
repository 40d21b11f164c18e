"""Rebuild a registered model from its recorded lineage and prove it answers identically."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from assay.data.dataset import content_hash_of, source_refs
from assay.errors import ArtifactError, AssayError, DataError
from assay.leakage.split import SPLITS, SplitManifest
from assay.data.source import SourceRef, hash_source
from assay.features import FeatureDefinition
from assay.project.feature_set import (
    add_features,
    describe_changes,
    feature_definitions,
    load_event_snapshots,
    recorded_definitions,
    spine_time_of,
)
from assay.project.calibrated import fit_model, load_registered
from assay.project.pipeline import factory_packages, load_dataset_frame, make_split
from assay.project.reporter import NullReporter, Reporter
from assay.project.workspace import ModelRef, Project
from assay.spec.loader import parse_spec
from assay.registry.records import DatasetVersion
from assay.spec.model import Spec
from assay.training.environment import capture_environment, diff_code, diff_environments, factory_source
from assay.training.signature import to_model_frame
from assay.training.trainer import predictions_from_bytes, seeded


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
    feature_changes: tuple[str, ...] = ()  # definitions in the current spec that differ from the run's

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
            "feature_changes": list(self.feature_changes),
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
    data_notes: list[str] = []
    env_changes: tuple[str, ...] = ()
    code_changes: tuple[str, ...] = ()
    definitions = recorded_definitions(run.params)
    feature_changes = tuple(_feature_changes(project, definitions))

    def failed(*why: str) -> Reproduction:
        return Reproduction(
            model.ref, run.id, False, None, None, None, 0, tuple(why), env_changes, code_changes, tuple(data_notes),
            feature_changes,
        )

    with reporter.stage("load lineage"):
        try:
            spec_text = project.artifacts.get_bytes(run.spec_sha256).decode("utf-8")
            spec = parse_spec(spec_text, source=f"spec snapshot of {run.id}")
        except AssayError as exc:
            return failed(f"spec: the recorded spec snapshot cannot be used: {_first_line(exc)}")
        data_notes.extend(_source_notes(project, spec, dataset))
        data_notes.extend(_event_notes(project, run.params.get("events", {})))
        environment = capture_environment(project.root, extra_packages=factory_packages(spec))
        env_changes = tuple(diff_environments(run.environment, environment))
        code_changes = (*diff_code(run.environment, environment), *_factory_changes(project, spec, run.artifacts))
        try:
            frame = load_dataset_frame(project, dataset)
        except ArtifactError as exc:
            return failed(
                f"data: the snapshot of dataset {dataset.id} (artifact {dataset.snapshot_sha256[:12]}) "
                f"is not what was recorded: {_first_line(exc)}"
            )
        if definitions:
            try:
                events = load_event_snapshots(project, run.artifacts)
            except ArtifactError as exc:
                return failed(f"data: an event snapshot of {run.id} is not what was recorded: {_first_line(exc)}")
            try:
                frame = add_features(frame, events, definitions, spine_time=spine_time_of(spec))
            except AssayError as exc:
                return failed(f"features: recomputing them from the recorded event snapshots failed: {_first_line(exc)}")
        try:
            recorded_manifest = SplitManifest.from_json_bytes(project.artifacts.get_bytes(run.artifacts["split"]))
            recorded_test = predictions_from_bytes(project.artifacts.get_bytes(run.artifacts["predictions.test"]))
        except (ArtifactError, KeyError) as exc:
            return failed(f"run record: a recorded artifact of {run.id} is missing or altered: {_first_line(exc)}")

    with reporter.stage("split"):
        manifest = make_split(frame, dataset, spec)
        differences: list[str] = []
        same_rows = all(
            np.array_equal(manifest.indices[name], recorded_manifest.indices[name]) for name in SPLITS
        )
        if not same_rows:
            differences.append(
                "split: re-splitting the snapshot gave different rows than the recorded manifest "
                "(the split code or its libraries changed); the recorded manifest is used"
            )
    with reporter.stage("retrain"):
        try:
            trained, _ = fit_model(
                frame, recorded_manifest, spec, project_dir=project.root, derived=tuple(d.name for d in definitions)
            )
        except AssayError as exc:
            return failed(f"training: retraining from the record failed: {_first_line(exc)}")
    with reporter.stage("check the registered artifact"):
        try:
            registered = load_registered(project, model, run=run)
            test_rows = to_model_frame(frame[recorded_manifest.indices["test"]], model.signature)
            with seeded(spec.seed, spec.model.threads):
                served = registered.predict(test_rows)
        except AssayError as exc:
            return failed(f"artifact: the registered model {model.ref} cannot be loaded: {_first_line(exc)}")
    served_difference = _compare("artifact", "the registered artifact", served, recorded_test)
    if served_difference:
        differences.append(served_difference)
    rebuilt_test = trained.predictions["test"]
    artifact_identical = _sha(trained.artifact) == model.artifact_sha256
    rebuilt_difference = _compare("predictions", "the rebuilt model", rebuilt_test, recorded_test)
    predictions_identical = rebuilt_difference is None
    max_diff = (
        float(np.max(np.abs(rebuilt_test - recorded_test))) if rebuilt_test.shape == recorded_test.shape and rebuilt_test.size else None
    )
    if rebuilt_difference:
        differences.append(rebuilt_difference)
    if not artifact_identical:
        differences.append(
            f"artifact: the rebuilt model's bytes differ from the registered artifact {model.artifact_sha256[:12]}"
        )
    ok = predictions_identical and served_difference is None and not any(d.startswith("split") for d in differences)
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
        feature_changes=feature_changes,
    )


def _source_notes(project: Project, spec: Spec, dataset: DatasetVersion) -> list[str]:
    """Whether the source files (as the recorded spec names them) still hold what was ingested.
    Informational only: reproduction always uses the recorded snapshot."""
    try:
        current, _ = content_hash_of(source_refs(spec.data, base_dir=project.root))
    except DataError:
        return [f"the source {dataset.source_uri} is no longer readable; reproduction uses the recorded snapshot"]
    if current != dataset.content_hash:
        return [f"the source {dataset.source_uri} changed since it was ingested; reproduction uses the recorded snapshot"]
    return []


def _event_notes(project: Project, recorded: Mapping[str, Any]) -> list[str]:
    """Whether each event table file still holds what the run read (informational, like the source)."""
    notes = []
    for source, entry in sorted(recorded.items()):
        try:
            current, _ = hash_source(SourceRef.resolve(entry["path"], base_dir=project.root))
        except DataError:
            notes.append(f"the event table {source} ({entry['path']}) is no longer readable; "
                         "reproduction uses the recorded snapshot")
            continue
        if current != entry["content_sha256"]:
            notes.append(f"the event table {source} ({entry['path']}) changed since the run; "
                         "reproduction uses the recorded snapshot")
    return notes


def _feature_changes(project: Project, recorded: tuple[FeatureDefinition, ...]) -> list[str]:
    """How the current spec's feature definitions differ from the ones the run recorded."""
    try:
        current = feature_definitions(project.load_spec()[0], project.root)
    except AssayError as exc:
        if not recorded:
            return []
        return [f"the current spec's features cannot be read ({_first_line(exc)}); "
                "reproduction uses the recorded definitions"]
    return describe_changes(recorded, current)


def _compare(kind: str, what: str, got: np.ndarray, recorded: np.ndarray) -> str | None:
    """None when identical; otherwise one line saying how many test rows differ and by how much."""
    if got.shape != recorded.shape:
        return f"{kind}: {what} gives predictions of shape {got.shape}, the record has {recorded.shape}"
    if np.array_equal(got, recorded):
        return None
    differs = got != recorded
    rows = int(np.sum(np.any(differs, axis=-1) if got.ndim > 1 else differs))
    largest = float(np.max(np.abs(got - recorded)))
    return f"{kind}: {rows} of {len(got)} test predictions of {what} differ from the record (largest difference {largest:.3g})"


def _factory_changes(project: Project, spec: Spec, artifacts: Mapping[str, str]) -> list[str]:
    recorded = artifacts.get("factory_source")
    source = factory_source(spec.model.factory, project.root)
    if recorded is None:
        return []
    if source is None:
        return [f"model.factory {spec.model.factory}: its source file is no longer found"]
    current = _sha(source.read_bytes())
    if current != recorded:
        return [f"model.factory source {source.name} changed since the run ({recorded[:12]} -> {current[:12]})"]
    return []


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0]


__all__ = ["Reproduction", "reproduce"]
