"""Assay: from raw tabular data to a registered, reproducible model, with evidence at every step.

The Python API mirrors the CLI::

    import assay

    with assay.Project.open("my-project") as project:
        result = assay.train_project(project)
        print(result.model.ref, result.run.metrics["test"])
        assert assay.reproduce(project, result.model.ref).ok
"""

from __future__ import annotations

__version__ = "0.1.0"

from assay.clock import Clock, FixedClock, SystemClock
from assay.errors import AssayError
from assay.project import (
    IngestResult,
    Lineage,
    ModelRef,
    Project,
    Reproduction,
    Settings,
    TrainResult,
    create_demo_project,
    ingest,
    lineage,
    render_init_spec,
    reproduce,
    run_demo,
    train_project,
    validate,
    verify_artifacts,
    write_init_spec,
)
from assay.registry.records import DatasetVersion, ModelStatus, ModelVersion, Run, RunStatus
from assay.spec import Spec, load_spec, parse_spec

__all__ = [
    "AssayError",
    "Clock",
    "DatasetVersion",
    "FixedClock",
    "IngestResult",
    "Lineage",
    "ModelRef",
    "ModelStatus",
    "ModelVersion",
    "Project",
    "Reproduction",
    "Run",
    "RunStatus",
    "Settings",
    "Spec",
    "SystemClock",
    "TrainResult",
    "__version__",
    "create_demo_project",
    "ingest",
    "lineage",
    "load_spec",
    "parse_spec",
    "render_init_spec",
    "reproduce",
    "run_demo",
    "train_project",
    "validate",
    "verify_artifacts",
    "write_init_spec",
]
