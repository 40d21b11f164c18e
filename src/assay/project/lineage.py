"""Lineage (dataset version → run → model) and artifact verification in terms of records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assay.project.feature_set import EVENTS_ARTIFACT_PREFIX
from assay.project.models import aliases_of
from assay.project.workspace import ModelRef, Project
from assay.registry.records import DatasetVersion, ModelVersion, Run
from assay.registry.store import ArtifactProblem


@dataclass(frozen=True, slots=True)
class Lineage:
    dataset: DatasetVersion
    run: Run
    model: ModelVersion
    aliases: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        git = self.run.environment.get("git", {})
        return {
            "dataset": {
                "id": self.dataset.id,
                "name": self.dataset.name,
                "source_uri": self.dataset.source_uri,
                "content_hash": self.dataset.content_hash,
                "snapshot_sha256": self.dataset.snapshot_sha256,
                "rows": self.dataset.row_count,
                "created_at": self.dataset.created_at.isoformat(),
            },
            "run": {
                "id": self.run.id,
                "status": self.run.status.value,
                "seed": self.run.seed,
                "spec_sha256": self.run.spec_sha256,
                "split_sha256": self.run.artifacts.get("split"),
                "git_commit": git.get("commit"),
                "git_dirty": git.get("dirty"),
                "python": self.run.environment.get("python"),
                "started_at": self.run.started_at.isoformat(),
                "created_by": self.run.created_by,
            },
            "features": run_features(self.run),
            "model": {
                "ref": self.model.ref,
                "flavor": self.model.flavor,
                "status": self.model.status.value,
                "artifact_sha256": self.model.artifact_sha256,
                "aliases": list(self.aliases),
                "created_at": self.model.created_at.isoformat(),
                "created_by": self.model.created_by,
            },
        }


def run_features(run: Run) -> list[dict[str, Any]]:
    """The run's features: name, version, source, and the sha256 of the event snapshot it read."""
    return [
        {
            "name": name,
            "version": entry["version"],
            "source": entry["source"],
            "events_sha256": run.artifacts.get(f"{EVENTS_ARTIFACT_PREFIX}{entry['source']}"),
        }
        for name, entry in sorted(run.params.get("features", {}).items())
    ]


def lineage(project: Project, ref: str | ModelRef) -> Lineage:
    model = project.resolve_model(ref)
    run = project.metadata.get_run(model.run_id)
    dataset = project.metadata.get_dataset(run.dataset_version_id)
    return Lineage(dataset, run, model, tuple(aliases_of(project, model)))


@dataclass(frozen=True, slots=True)
class ArtifactFinding:
    problem: ArtifactProblem
    used_by: tuple[str, ...]  # records that point at the artifact

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.problem.sha256,
            "problem": self.problem.problem,
            "detail": self.problem.detail,
            "used_by": list(self.used_by),
        }


def artifact_users(project: Project) -> dict[str, list[str]]:
    """sha256 → the records that reference it (dataset snapshots, run artifacts, models)."""
    users: dict[str, list[str]] = {}
    for dataset in project.metadata.list_datasets(limit=1_000_000):
        users.setdefault(dataset.snapshot_sha256, []).append(f"dataset {dataset.id} snapshot")
    for run in project.metadata.list_runs(limit=1_000_000):
        for role, sha in sorted(run.artifacts.items()):
            if role != "dataset":
                users.setdefault(sha, []).append(f"run {run.id} {role}")
    for model in project.metadata.list_models(limit=1_000_000):
        users.setdefault(model.artifact_sha256, []).append(f"model {model.ref}")
    return users


def verify_artifacts(project: Project) -> tuple[int, list[ArtifactFinding]]:
    """Re-hash every stored artifact and every artifact a record points at.

    Returns (number checked, findings); a finding names the records that depend on the artifact.
    """
    users = artifact_users(project)
    stored = {info.sha256 for info in project.artifacts.iter_artifacts()}
    missing = sorted(set(users) - stored)
    problems = project.artifacts.verify() + (project.artifacts.verify(missing) if missing else [])
    findings = [ArtifactFinding(p, tuple(users.get(p.sha256, ()))) for p in sorted(problems, key=lambda p: p.sha256)]
    return len(stored) + len(missing), findings


__all__ = ["ArtifactFinding", "Lineage", "artifact_users", "lineage", "run_features", "verify_artifacts"]
