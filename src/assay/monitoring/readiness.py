"""`assay readiness MODEL`: judge a model against the ML Test Score rubric and the platform rules
(see readiness_facts for the scoring), and check that a piece of evidence still resolves."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assay.errors import AssayError
from assay.monitoring.readiness_facts import ReadinessReport, gather
from assay.monitoring.readiness_rubric import rubric_items
from assay.monitoring.readiness_rules import rule_items
from assay.project.workspace import ModelRef, Project
from assay.spec.model import Spec


def readiness(project: Project, ref: str | ModelRef) -> ReadinessReport:
    """Judge `ref` against the rubric and the platform rules. Reads only; raises only when the
    model (or its run or dataset) does not exist."""
    facts = gather(project, ref)
    items = (*rubric_items(facts), *rule_items(facts))
    return ReadinessReport(facts.model.ref, facts.run.id, project.clock.now().isoformat(), items)


def resolve_evidence(project: Project, record: str) -> bool:
    """Whether a reference still points at something that exists in the stores or the project."""
    kind, _, value = record.partition(":")
    try:
        if kind == "run":
            return project.metadata.get_run(value).id == value
        if kind == "dataset":
            return project.metadata.get_dataset(value).id == value
        if kind == "model":
            return project.resolve_model(value).ref == value
        if kind == "deployment":
            return project.metadata.get_deployment(value).revision > 0
        if kind == "artifact":
            return project.artifacts.exists(value)
        if kind == "audit":
            seq = int(value)
            return any(entry.seq == seq for entry in project.metadata.list_audit(limit=1_000_000))
        if kind == "spec":
            return spec_field(project.load_spec()[0], value) is not None
        if kind == "file":
            path = Path(value)
            return (path if path.is_absolute() else project.root / path).exists()
    except (AssayError, ValueError):
        return False
    return False


def spec_field(spec: Spec, dotted: str) -> Any:
    value: Any = spec
    for part in dotted.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list | tuple):
            value = value[int(part)] if part.isdigit() and int(part) < len(value) else None
        else:
            value = getattr(value, "data_schema" if part == "schema" else part, None)
        if value is None:
            return None
    return value


__all__ = ["readiness", "resolve_evidence", "spec_field"]
