"""The approval review of a model version: everything a reviewer must see in one place before
approving it for production. Its card (verdict, key metrics), the evaluation gates as the run
recorded them, the leakage waivers its spec accepted, and how it differs from the model now in
production of the same name: metrics, features, training data and the spec text.

Built only from records and stored artifacts (nothing is retrained or rescored), so the same
records always give the same review.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from assay.errors import ArtifactError, AssayError, DataError
from assay.evaluation import METRIC_NAMES, Metric
from assay.evaluation.assessment import GateResult
from assay.project.approvals import approval_state
from assay.project.lineage import run_features
from assay.project.model_card import CARD_HTML, CARD_JSON
from assay.project.models import aliases_of
from assay.project.workspace import ModelRef, Project
from assay.registry.records import PRODUCTION_ALIAS, DatasetVersion, ModelVersion, Run
from assay.security.redaction import redact_text
from assay.spec.loader import parse_spec

FIRST_PRODUCTION = "first production model: no model of this name is in production, so there is nothing to compare with"


@dataclass(frozen=True, slots=True)
class CardSummary:
    """The stored model card: where its two artifacts are, and its verdict and key metrics."""

    html_sha256: str | None  # None: the model was registered before cards were stored
    json_sha256: str | None
    html_path: str | None
    json_path: str | None
    passed: bool | None  # the card's verdict: every gate passed (None: no card document)
    primary_metric: str | None
    metrics: Mapping[str, float | None] = field(default_factory=dict)  # test split
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "html_sha256": self.html_sha256,
            "json_sha256": self.json_sha256,
            "html_path": self.html_path,
            "json_path": self.json_path,
            "verdict": None if self.passed is None else ("passed" if self.passed else "failed"),
            "primary_metric": self.primary_metric,
            "metrics": dict(self.metrics),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class WaiverRecord:
    """A leakage waiver of the run's spec, and the findings of that run it waived."""

    kind: str
    columns: tuple[str, ...]
    reason: str
    waived: tuple[tuple[str, ...], ...] = ()  # the columns of each finding it waived in this run

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "columns": list(self.columns), "reason": self.reason,
                "waived": [list(columns) for columns in self.waived]}


@dataclass(frozen=True, slots=True)
class MetricDelta:
    """One test metric of the candidate and of production; `delta` is candidate minus production."""

    metric: str
    candidate: float | None
    production: float | None
    delta: float | None
    primary: bool = False
    improved: bool | None = None  # None: equal, missing, or a metric whose direction is not known

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "primary": self.primary, "candidate": self.candidate,
                "production": self.production, "delta": self.delta, "improved": self.improved}


@dataclass(frozen=True, slots=True)
class ReviewDiff:
    """How the reviewed model differs from `against` (None: nothing in production)."""

    against: str | None
    note: str = ""
    metrics: tuple[MetricDelta, ...] = ()
    features_added: tuple[str, ...] = ()
    features_removed: tuple[str, ...] = ()
    type_changed: tuple[tuple[str, str, str], ...] = ()  # (input, production type, candidate type)
    versions_changed: tuple[tuple[str, int | None, int | None], ...] = ()  # computed features
    dataset: Mapping[str, Any] | None = None
    spec_diff: tuple[str, ...] = ()  # unified diff of the spec snapshots, production -> candidate

    @property
    def is_empty(self) -> bool:
        return not (self.metrics or self.features_added or self.features_removed or self.type_changed
                    or self.versions_changed or self.spec_diff)

    def to_dict(self) -> dict[str, Any]:
        return {
            "against": self.against,
            "note": self.note,
            "metrics": [m.to_dict() for m in self.metrics],
            "features": {
                "added": list(self.features_added),
                "removed": list(self.features_removed),
                "type_changed": [{"name": n, "production": a, "candidate": b} for n, a, b in self.type_changed],
                "version_changed": [{"name": n, "production": a, "candidate": b} for n, a, b in self.versions_changed],
            },
            "dataset": None if self.dataset is None else dict(self.dataset),
            "spec_diff": list(self.spec_diff),
        }


@dataclass(frozen=True, slots=True)
class Review:
    """What a reviewer sees before approving `model`. `approvals` are the recorded decisions
    (decision, actor, comment, at); `policy` is where the version stands against the spec's
    approval policy (required, role, four_eyes, met, approved_by, rejected_by, missing)."""

    model: ModelVersion
    aliases: tuple[str, ...]
    card: CardSummary
    gates: tuple[GateResult, ...]
    waivers: tuple[WaiverRecord, ...]
    production: str | None
    diff: ReviewDiff
    notes: tuple[str, ...] = ()  # what could not be read, in plain words
    approvals: Sequence[Mapping[str, Any]] = ()
    policy: Mapping[str, Any] | None = None

    @property
    def is_production(self) -> bool:
        return self.production == self.model.ref

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": {
                "ref": self.model.ref,
                "status": self.model.status.value,
                "aliases": list(self.aliases),
                "flavor": self.model.flavor,
                "description": self.model.description,
                "created_by": self.model.created_by,
                "created_at": self.model.created_at.isoformat(),
                "run_id": self.model.run_id,
            },
            "card": self.card.to_dict(),
            "gates": [g.to_dict() for g in self.gates],
            "waivers": [w.to_dict() for w in self.waivers],
            "production": self.production,
            "diff": self.diff.to_dict(),
            "notes": list(self.notes),
            "approvals": [_json_ready(a) for a in self.approvals],
            "policy": None if self.policy is None else _json_ready(self.policy),
        }


def _json_ready(record: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in record.items()}


def review(project: Project, ref: str | ModelRef) -> Review:
    """The review of one model version against the model holding `production` of its name."""
    model = project.resolve_model(ref)
    state = approval_state(project, model).to_dict()
    run = project.metadata.get_run(model.run_id)
    notes: list[str] = []
    spec_text = _spec_text(project, run, notes)
    production_version = project.metadata.get_alias(model.name, PRODUCTION_ALIAS)
    if production_version is None:
        production, diff = None, ReviewDiff(None, FIRST_PRODUCTION)
    elif production_version == model.version:
        production, diff = model.ref, ReviewDiff(model.ref, f"{model.ref} is the production model")
    else:
        current = project.metadata.get_model(model.name, production_version)
        production = current.ref
        diff = _diff(project, model, run, spec_text, current, notes)
    return Review(
        model=model,
        aliases=tuple(aliases_of(project, model)),
        card=_card(project, model, run, notes),
        gates=tuple(GateResult(**gate) for gate in run.metrics.get("gates", [])),
        waivers=_waivers(run, spec_text, notes),
        production=production,
        diff=diff,
        notes=tuple(notes),
        approvals=tuple(state["decisions"]),
        policy={k: v for k, v in state.items() if k != "decisions"},
    )


def _spec_text(project: Project, run: Run, notes: list[str]) -> str | None:
    """The spec text the run was trained with (its snapshot, stored by its sha256)."""
    try:
        return project.artifacts.get_bytes(run.spec_sha256).decode("utf-8")
    except ArtifactError as exc:
        notes.append(f"the spec snapshot of {run.id} cannot be read: {_first_line(exc)}")
        return None


def _card(project: Project, model: ModelVersion, run: Run, notes: list[str]) -> CardSummary:
    html_sha, json_sha = run.artifacts.get(CARD_HTML), run.artifacts.get(CARD_JSON)
    document: Mapping[str, Any] = {}
    if json_sha is None:
        notes.append(f"{model.ref} has no stored model card: `assay models card {model.ref}` builds one")
    else:
        try:
            document = json.loads(project.artifacts.get_bytes(json_sha))
        except ArtifactError as exc:
            notes.append(f"the model card of {model.ref} cannot be read: {_first_line(exc)}")
    verdict = document.get("verdict") or {}
    return CardSummary(
        html_sha256=html_sha,
        json_sha256=json_sha,
        html_path=project.artifacts.path_of(html_sha) if html_sha else None,
        json_path=project.artifacts.path_of(json_sha) if json_sha else None,
        passed=verdict.get("passed"),
        primary_metric=document.get("primary_metric") or run.metrics.get("primary"),
        metrics=dict((document.get("metrics") or {}).get("test") or model.metrics),
        warnings=tuple(document.get("warnings", ())),
    )


def _waivers(run: Run, spec_text: str | None, notes: list[str]) -> tuple[WaiverRecord, ...]:
    """The spec's leakage waivers, each with the findings of this run it waived (as recorded)."""
    if spec_text is None:
        return ()
    try:
        spec = parse_spec(spec_text, source=f"spec snapshot of {run.id}")
    except AssayError as exc:
        notes.append(f"the spec snapshot of {run.id} no longer validates, so its waivers are not shown: {_first_line(exc)}")
        return ()
    waived = run.params.get("leakage", {}).get("waived", [])
    return tuple(
        WaiverRecord(w.kind, tuple(w.columns), w.reason,
               tuple(tuple(f["columns"]) for f in waived if f["kind"] == w.kind and f["reason"] == w.reason))
        for w in spec.leakage.waivers
    )


def _diff(project: Project, model: ModelVersion, run: Run, spec_text: str | None, current: ModelVersion,
          notes: list[str]) -> ReviewDiff:
    current_run = project.metadata.get_run(current.run_id)
    before = _inputs(current.signature)
    after = _inputs(model.signature)
    versions_before = {f["name"]: f["version"] for f in run_features(current_run)}
    versions_after = {f["name"]: f["version"] for f in run_features(run)}
    return ReviewDiff(
        against=current.ref,
        metrics=_metric_deltas(model.metrics, current.metrics, run.metrics.get("primary")),
        features_added=tuple(sorted(set(after) - set(before))),
        features_removed=tuple(sorted(set(before) - set(after))),
        type_changed=tuple((n, before[n], after[n]) for n in sorted(set(before) & set(after)) if before[n] != after[n]),
        versions_changed=tuple(
            (n, versions_before.get(n), versions_after.get(n))
            for n in sorted(set(versions_before) & set(versions_after)) if versions_before[n] != versions_after[n]
        ),
        dataset=_dataset_change(project.metadata.get_dataset(run.dataset_version_id),
                                project.metadata.get_dataset(current_run.dataset_version_id)),
        spec_diff=_spec_diff(_spec_text(project, current_run, notes), spec_text, current, model),
    )


def _inputs(signature: Mapping[str, Any]) -> dict[str, str]:
    """input column -> its type (with its categories, where it has them)."""
    found: dict[str, str] = {}
    for column in signature.get("inputs", []):
        categories = column.get("categories")
        found[column["name"]] = column["type"] + (f"[{', '.join(map(str, categories))}]" if categories else "")
    return found


def _metric_deltas(candidate: Mapping[str, Any], production: Mapping[str, Any], primary: str | None) -> tuple[MetricDelta, ...]:
    names = list(dict.fromkeys([*candidate, *production]))
    if primary in names:
        names = [primary, *(n for n in names if n != primary)]
    deltas = []
    for name in names:
        new, old = _number(candidate.get(name)), _number(production.get(name))
        delta = None if new is None or old is None else new - old
        higher = _prefers_higher(name) if delta else None  # no verdict on an unchanged value
        improved = None if delta is None or higher is None else (delta > 0) == higher
        deltas.append(MetricDelta(name, new, old, delta, name == primary, improved))
    return tuple(deltas)


def _prefers_higher(name: str) -> bool | None:
    """Whether a larger value of the metric is better; None for a metric Assay does not know by name."""
    if name not in METRIC_NAMES:
        return None
    try:
        return Metric.of(name).prefers_higher()
    except DataError:  # a cost metric, whose direction needs its cost matrix
        return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _dataset_change(candidate: DatasetVersion, production: DatasetVersion) -> dict[str, Any]:
    return {
        "candidate": {"id": candidate.id, "name": candidate.name, "rows": candidate.row_count},
        "production": {"id": production.id, "name": production.name, "rows": production.row_count},
        "same": candidate.id == production.id,
    }


def _spec_diff(before: str | None, after: str | None, current: ModelVersion, model: ModelVersion) -> tuple[str, ...]:
    if before is None or after is None:
        return ()
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), fromfile=f"{current.ref} assay.yaml",
                                 tofile=f"{model.ref} assay.yaml", lineterm="")
    return tuple(redact_text(line) for line in lines)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0]


__all__ = ["FIRST_PRODUCTION", "CardSummary", "MetricDelta", "Review", "ReviewDiff", "WaiverRecord", "review"]
