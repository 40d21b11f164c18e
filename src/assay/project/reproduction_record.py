"""The audit-log record of an `assay reproduce` verdict, so a later readiness report can point to
it rather than take reproducibility on trust. Kept apart from reproduce.py, which loads the
training stack: reading these records must stay cheap."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.project.workspace import Project
from assay.security.identity import Action

if TYPE_CHECKING:
    from assay.project.reproduce import Reproduction

REPRODUCED, NOT_REPRODUCED = "model.reproduced", "model.not-reproduced"


def record_reproduction(project: Project, result: Reproduction) -> None:
    """Append the verdict to the audit log, with the model as subject. Any reader may record one:
    reproducing is how an auditor checks a model, not a change to it."""
    project.require(Action.READ_MODELS, subject=result.model)
    project.metadata.append_audit(
        actor=project.actor,
        action=REPRODUCED if result.ok else NOT_REPRODUCED,
        subject=result.model,
        details={"run_id": result.run_id, "predictions_identical": result.predictions_identical,
                 "artifact_identical": result.artifact_identical, "rows_compared": result.rows_compared,
                 "differences": list(result.differences)},
        at=project.clock.now(),
    )


__all__ = ["NOT_REPRODUCED", "REPRODUCED", "record_reproduction"]
