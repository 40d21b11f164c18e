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

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Public names and the module that defines each. Imported on first use (PEP 562), so that
# `import assay.registry.artifacts` in a worker process does not pull in scikit-learn.
_EXPORTS = {
    "AssayError": "assay.errors",
    "Clock": "assay.clock",
    "FixedClock": "assay.clock",
    "SystemClock": "assay.clock",
    "DatasetVersion": "assay.registry.records",
    "ModelStatus": "assay.registry.records",
    "ModelVersion": "assay.registry.records",
    "Run": "assay.registry.records",
    "RunStatus": "assay.registry.records",
    "Spec": "assay.spec",
    "load_spec": "assay.spec",
    "parse_spec": "assay.spec",
    **{
        name: "assay.project"
        for name in (
            "IngestResult",
            "Lineage",
            "ModelRef",
            "Project",
            "Reproduction",
            "Settings",
            "TrainResult",
            "create_demo_project",
            "ingest",
            "lineage",
            "move_alias",
            "remove_alias",
            "render_init_spec",
            "reproduce",
            "run_demo",
            "set_status",
            "train_project",
            "validate",
            "verify_artifacts",
            "write_init_spec",
        )
    },
}

if TYPE_CHECKING:
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
        move_alias,
        remove_alias,
        render_init_spec,
        reproduce,
        run_demo,
        set_status,
        train_project,
        validate,
        verify_artifacts,
        write_init_spec,
    )
    from assay.registry.records import DatasetVersion, ModelStatus, ModelVersion, Run, RunStatus
    from assay.spec import Spec, load_spec, parse_spec


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assay' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
    "move_alias",
    "parse_spec",
    "remove_alias",
    "render_init_spec",
    "reproduce",
    "run_demo",
    "set_status",
    "train_project",
    "validate",
    "verify_artifacts",
    "write_init_spec",
]
