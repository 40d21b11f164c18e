"""The records of `assay readiness`: items, evidence, the report and its score, and the facts the
checks read. The 28 tests of Google's ML Test Score rubric (Breck et al., 2017) and
the platform's own rules, each judged from records in the project's stores, never from a claim.

Every item is pass, fail or not applicable. A pass carries the evidence it was judged on: a list
of references to records (`run:<id>`, `artifact:<sha256>`, `audit:<seq>`, `dataset:<id>`,
`model:<ref>`, `deployment:<name>`, `spec:<field>`, `file:<path>`) that `resolve_evidence` can
check still exist. The rubric's score: an automated check that passes is worth 1 point (Assay
judges it on every run), anything else 0; a section's score is its sum, and the final score is
the minimum over the four sections, as in the paper. The platform rules are reported next to it
and are not part of that score. The report reads the stores and the project folder; it writes
nothing. Decision 0025 records the choices."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assay.errors import AssayError
from assay.project.workspace import ModelRef, Project
from assay.registry.records import (
    AuditEntry,
    DatasetVersion,
    Deployment,
    ModelVersion,
    Run,
)
from assay.spec.model import Spec

Status = Literal["pass", "fail", "not applicable"]
RUBRIC_SECTIONS = ("data", "model", "infrastructure", "monitoring")
RULES_SECTION = "platform"
AUTOMATED = 1.0  # the paper: 1 point when automated and run repeatedly (0.5 when manual and documented)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One record an item was judged on; `record` is a reference `resolve_evidence` can check."""

    what: str
    record: str

    def to_dict(self) -> dict[str, str]:
        return {"what": self.what, "record": self.record}


@dataclass(frozen=True, slots=True)
class ReadinessItem:
    section: str
    id: str
    title: str
    status: Status
    explanation: str  # one line: why this status
    evidence: tuple[Evidence, ...] = ()
    points: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "points": self.points,
            "explanation": self.explanation,
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    model: str
    run_id: str
    generated_at: str
    items: tuple[ReadinessItem, ...]

    def section(self, name: str) -> tuple[ReadinessItem, ...]:
        return tuple(item for item in self.items if item.section == name)

    def item(self, item_id: str) -> ReadinessItem:
        return next(item for item in self.items if item.id == item_id)

    @property
    def section_scores(self) -> dict[str, float]:
        return {name: sum(item.points for item in self.section(name)) for name in RUBRIC_SECTIONS}

    @property
    def score(self) -> float:
        """The ML Test Score: the minimum of the four section scores."""
        return min(self.section_scores.values())

    @property
    def rules_passed(self) -> int:
        return sum(item.status == "pass" for item in self.section(RULES_SECTION))

    def to_dict(self) -> dict[str, Any]:
        rules = self.section(RULES_SECTION)
        return {
            "model": self.model,
            "run_id": self.run_id,
            "generated_at": self.generated_at,
            "score": self.score,
            "section_scores": self.section_scores,
            "rules": {"passed": self.rules_passed, "total": len(rules)},
            "items": [item.to_dict() for item in self.items],
        }


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the checks read, gathered once: records, the current spec and the run's artifacts."""

    project: Project
    spec: Spec
    model: ModelVersion
    run: Run
    dataset: DatasetVersion
    deployment: Deployment
    evaluation: Mapping[str, Any]
    leakage: Mapping[str, Any]
    audit: tuple[AuditEntry, ...]  # entries about the dataset, the run, the model and its deployments
    missing: tuple[str, ...] = field(default=())  # run artifacts that could not be read, and why

    @property
    def root(self) -> Path:
        return self.project.root

    def audit_for(self, action: str, *, subject: str | None = None, model: str | None = None) -> list[AuditEntry]:
        return [
            entry for entry in self.audit
            if entry.action == action
            and (subject is None or entry.subject == subject)
            and (model is None or entry.details.get("model") == model)
        ]


def passed(section: str, item_id: str, title: str, explanation: str, evidence: Sequence[Evidence]) -> ReadinessItem:
    """A pass must carry evidence: an item without a record is a claim, and claims are not taken."""
    if not evidence:
        raise AssertionError(f"readiness item {item_id} passed without evidence")
    points = AUTOMATED if section in RUBRIC_SECTIONS else 0.0  # the platform rules are not part of the score
    return ReadinessItem(section, item_id, title, "pass", explanation, tuple(evidence), points)


def failed(section: str, item_id: str, title: str, explanation: str, evidence: Sequence[Evidence] = ()) -> ReadinessItem:
    return ReadinessItem(section, item_id, title, "fail", explanation, tuple(evidence))


def not_applicable(section: str, item_id: str, title: str, explanation: str,
                   evidence: Sequence[Evidence] = ()) -> ReadinessItem:
    return ReadinessItem(section, item_id, title, "not applicable", explanation, tuple(evidence))


def gather(project: Project, ref: str | ModelRef) -> Facts:
    """Read the model, its run and dataset, the current spec, the run's evaluation and leakage
    artifacts and the audit entries about them. Raises NotFoundError for an unknown model."""
    model = project.resolve_model(ref)
    run = project.metadata.get_run(model.run_id)
    dataset = project.metadata.get_dataset(run.dataset_version_id)
    spec, _ = project.load_spec()
    missing: list[str] = []
    documents = {role: _json_artifact(project, run, role, missing) for role in ("evaluation", "leakage")}
    subjects = {dataset.id, run.id, model.ref, model.name}
    audit = tuple(e for e in project.metadata.list_audit(limit=1_000_000) if e.subject in subjects)
    return Facts(project, spec, model, run, dataset, project.metadata.get_deployment(model.name),
                 documents["evaluation"], documents["leakage"], audit, tuple(missing))


def _json_artifact(project: Project, run: Run, role: str, missing: list[str]) -> Mapping[str, Any]:
    sha = run.artifacts.get(role)
    if sha is None:
        missing.append(f"run {run.id} recorded no {role} artifact")
        return {}
    try:
        return json.loads(project.artifacts.get_bytes(sha))
    except (AssayError, ValueError) as exc:
        missing.append(f"{role} artifact {sha[:12]}: {exc}")
        return {}


__all__ = [
    "AUTOMATED",
    "RUBRIC_SECTIONS",
    "RULES_SECTION",
    "Evidence",
    "Facts",
    "ReadinessItem",
    "ReadinessReport",
    "failed",
    "gather",
    "not_applicable",
    "passed",
]
