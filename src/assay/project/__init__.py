"""Projects: a folder with assay.yaml bound to its stores, and every lifecycle step on it."""

from __future__ import annotations

from assay.project.demo import DemoResult, create_demo_project, run_demo
from assay.project.init_spec import render_init_spec, write_init_spec
from assay.project.lineage import ArtifactFinding, Lineage, lineage, verify_artifacts
from assay.project.pipeline import IngestResult, TrainResult, evaluate, ingest, train_project, validate
from assay.project.reporter import ListReporter, NullReporter, Reporter
from assay.project.reproduce import Reproduction, reproduce
from assay.project.settings import Settings
from assay.project.workspace import ModelRef, Project

__all__ = [
    "ArtifactFinding",
    "DemoResult",
    "IngestResult",
    "Lineage",
    "ListReporter",
    "ModelRef",
    "NullReporter",
    "Project",
    "Reporter",
    "Reproduction",
    "Settings",
    "TrainResult",
    "create_demo_project",
    "evaluate",
    "ingest",
    "lineage",
    "render_init_spec",
    "reproduce",
    "run_demo",
    "train_project",
    "validate",
    "verify_artifacts",
    "write_init_spec",
]
