"""A registered model as one picklable value: its artifact's bytes and what loading them needs.

Worker processes and Ray actors get a `ModelPackage` instead of a connection to the stores. This
module stays light (no model libraries): a coordinator builds packages without importing them;
`assay.project.calibrated.load_package` turns one into a model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import ArtifactIntegrityError
from assay.registry.records import ModelVersion, Run

if TYPE_CHECKING:
    from assay.project.workspace import Project

CALIBRATOR_ROLE = "calibrator"


@dataclass(frozen=True, slots=True)
class ModelPackage:
    ref: str
    flavor: str
    artifact: bytes
    artifact_sha256: str
    signature: dict[str, Any]
    trusted_modules: tuple[str, ...]
    calibrator: dict[str, Any] | None  # the calibrator its run fitted, as recorded
    project_dir: Path  # where the model's own trusted modules are imported from

    def verify(self) -> None:
        digest = hashlib.sha256(self.artifact).hexdigest()
        if digest != self.artifact_sha256:
            raise ArtifactIntegrityError(
                f"the artifact of {self.ref} hashes to {digest}, not {self.artifact_sha256}",
                hint="the bytes were corrupted in transit or in the store; run `assay artifacts verify`",
            )


def package_registered(project: Project, model: ModelVersion, *, run: Run | None = None) -> ModelPackage:
    """A registered model's artifact (its hash verified on read), with the trust list and the
    calibrator its run recorded."""
    run = run or project.metadata.get_run(model.run_id)
    calibrator = None
    if CALIBRATOR_ROLE in run.artifacts:
        calibrator = json.loads(project.artifacts.get_bytes(run.artifacts[CALIBRATOR_ROLE]))["calibrator"]
    return ModelPackage(
        ref=model.ref, flavor=model.flavor, artifact=project.artifacts.get_bytes(model.artifact_sha256),
        artifact_sha256=model.artifact_sha256, signature=dict(model.signature),
        trusted_modules=tuple(run.params.get("resolved", {}).get("trusted_modules", ())), calibrator=calibrator,
        project_dir=project.root,
    )


__all__ = ["CALIBRATOR_ROLE", "ModelPackage", "package_registered"]
