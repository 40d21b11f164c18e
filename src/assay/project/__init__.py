"""Projects: a folder with assay.yaml bound to its stores, and every lifecycle step on it.

Names are imported on first use (PEP 562): `assay models list` needs the metadata store but not
scikit-learn, and should not pay for importing it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DemoResult": "demo",
    "create_demo_project": "demo",
    "run_demo": "demo",
    "render_init_spec": "init_spec",
    "write_init_spec": "init_spec",
    "ArtifactFinding": "lineage",
    "Lineage": "lineage",
    "lineage": "lineage",
    "verify_artifacts": "lineage",
    "approval_state": "approvals",
    "approve": "approvals",
    "reject": "approvals",
    "review": "review",
    "move_alias": "models",
    "remove_alias": "models",
    "set_status": "models",
    "IngestResult": "ingestion",
    "TrainResult": "pipeline",
    "evaluate": "pipeline",
    "ingest": "ingestion",
    "train_project": "pipeline",
    "validate": "ingestion",
    "ListReporter": "reporter",
    "NullReporter": "reporter",
    "Reporter": "reporter",
    "Reproduction": "reproduce",
    "reproduce": "reproduce",
    "Settings": "settings",
    "ModelRef": "workspace",
    "Project": "workspace",
}

if TYPE_CHECKING:
    from assay.project.approvals import approval_state, approve, reject
    from assay.project.demo import DemoResult, create_demo_project, run_demo
    from assay.project.review import review
    from assay.project.init_spec import render_init_spec, write_init_spec
    from assay.project.lineage import ArtifactFinding, Lineage, lineage, verify_artifacts
    from assay.project.models import move_alias, remove_alias, set_status
    from assay.project.ingestion import IngestResult, ingest, validate
    from assay.project.pipeline import TrainResult, evaluate, train_project
    from assay.project.reporter import ListReporter, NullReporter, Reporter
    from assay.project.reproduce import Reproduction, reproduce
    from assay.project.settings import Settings
    from assay.project.workspace import ModelRef, Project


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assay.project' has no attribute {name!r}")
    value = getattr(import_module(f"assay.project.{module}"), name)
    globals()[name] = value
    return value


__all__ = sorted(_EXPORTS)
