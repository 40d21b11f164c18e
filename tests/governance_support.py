"""Approving a model as a second identity, the way a reviewer would, for tests that promote."""

from __future__ import annotations

from pathlib import Path

from assay.project.approvals import ApprovalState, approve
from assay.project.settings import Settings
from assay.project.workspace import Project

REVIEWER = "test-reviewer"


def approve_as_reviewer(project_dir: Path | str, ref: str, *, reviewer: str = REVIEWER) -> ApprovalState:
    """Record `reviewer`'s approval of `ref` (four-eyes: not the identity that trained it)."""
    with Project.open(project_dir, settings=Settings(actor=reviewer)) as project:
        return approve(project, ref, comment="reviewed in a test")
