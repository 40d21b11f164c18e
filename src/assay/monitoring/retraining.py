"""Retraining requests: when monitoring asks for a new model, and what happens then.

The spec's `monitoring.retraining` policy names the signals: drift sustained over N consecutive
windows, a quality SLO's breach, a production model older than a limit. When one holds, a request
is recorded in the audit log (`monitor.retraining_requested`, with the reasons) and, if the policy
says `train: true`, the project trains on the newest data exactly as `assay train` does: ingest,
split, train, evaluate, gates. The new model is a candidate or a rejected version like any other;
nothing here moves an alias, so a retrained model reaches production only through the normal
approval and rollout.

One standing request per production model: a request is not repeated while the previous one for
the same model is younger than the dedup period (`monitoring.dedup`) and gave the same reasons,
so a monitor running every minute over a drifted week asks once, not ten thousand times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from assay.errors import AssayError, GatesFailedError
from assay.project.pipeline import TrainResult, train_project
from assay.project.workspace import Project
from assay.registry.records import ModelVersion
from assay.spec.monitoring import RetrainingPolicy, duration_s

REQUESTED = "monitor.retraining_requested"
TRAINED = "monitor.retraining_trained"

ReasonKind = Literal["drift", "quality", "age"]


@dataclass(frozen=True, slots=True)
class RetrainingReason:
    kind: ReasonKind
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class RetrainingOutcome:
    """What a retraining request did: asked (or found a standing request), and trained or not."""

    model: str  # the production model the request is about
    reasons: tuple[RetrainingReason, ...]
    requested: bool  # False: a request with the same reasons is still standing (see `previous_at`)
    previous_at: datetime | None = None
    trained: str | None = None  # the new model version's ref, when the policy trains
    status: str | None = None  # its status: "candidate" or "rejected"; "failed" when training failed
    detail: str = ""  # the gate table or the training error, shortened

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "reasons": [r.to_dict() for r in self.reasons], "requested": self.requested,
            "previous_at": self.previous_at.isoformat() if self.previous_at else None, "trained": self.trained,
            "status": self.status, "detail": self.detail,
        }


def retraining_reasons(
    policy: RetrainingPolicy,
    *,
    model: ModelVersion,
    now: datetime,
    drift_windows: Sequence[bool | None] = (),
    quality_breaches: Sequence[str] = (),
) -> list[RetrainingReason]:
    """The policy's reasons to retrain `model` now.

    `drift_windows`: the drift verdict of each recent window, oldest first (None: not enough data,
    which breaks a streak: drift is sustained only when every one of the last N windows drifted).
    `quality_breaches`: the quality SLOs in breach now, by name.
    """
    reasons: list[RetrainingReason] = []
    needed = policy.on_drift_windows
    if needed is not None and len(drift_windows) >= needed and all(w is True for w in drift_windows[-needed:]):
        reasons.append(RetrainingReason("drift", f"drift in each of the last {needed} window(s)"))
    if policy.on_quality_breach and quality_breaches:
        reasons.append(RetrainingReason("quality", f"quality SLO(s) in breach: {', '.join(sorted(quality_breaches))}"))
    if policy.max_model_age is not None:
        age = now - model.created_at
        if age > timedelta(seconds=duration_s(policy.max_model_age)):
            reasons.append(RetrainingReason(
                "age", f"{model.ref} is {age.days} day(s) old, more than monitoring.retraining.max_model_age "
                       f"({policy.max_model_age})"))
    return reasons


def request_retraining(
    project: Project,
    model: ModelVersion,
    reasons: Sequence[RetrainingReason],
    *,
    policy: RetrainingPolicy,
    dedup: str,
    train: Callable[[Project], TrainResult] = train_project,
) -> RetrainingOutcome:
    """Record a retraining request for `model` (unless the same one is standing) and, when the policy
    says so, train a candidate. Never moves an alias."""
    if not reasons:
        raise ValueError("a retraining request needs at least one reason")
    now = project.clock.now()
    kinds = sorted({r.kind for r in reasons})
    standing = project.metadata.list_audit(subject=model.ref, action=REQUESTED, newest_first=True, limit=1)
    if standing:
        previous = standing[0]
        fresh = now - previous.at < timedelta(seconds=duration_s(dedup))
        if fresh and sorted(previous.details.get("kinds", [])) == kinds:
            return RetrainingOutcome(model.ref, tuple(reasons), requested=False, previous_at=previous.at)
    project.metadata.append_audit(
        actor=project.actor, action=REQUESTED, subject=model.ref, at=now,
        details={"kinds": kinds, "reasons": [r.to_dict() for r in reasons], "train": policy.train},
    )
    if not policy.train:
        return RetrainingOutcome(model.ref, tuple(reasons), requested=True)
    trained, status, detail = _train(project, train)
    project.metadata.append_audit(
        actor=project.actor, action=TRAINED, subject=model.ref, at=project.clock.now(),
        details={"kinds": kinds, "model": trained, "status": status, "detail": detail},
    )
    return RetrainingOutcome(model.ref, tuple(reasons), requested=True, trained=trained, status=status, detail=detail)


def _train(project: Project, train: Callable[[Project], TrainResult]) -> tuple[str | None, str, str]:
    """Train through the normal pipeline; the new version's ref, its status, and what to read."""
    try:
        result = train(project)
    except GatesFailedError as exc:  # recorded as rejected by the pipeline, with its gate table
        return exc.model_ref or None, "rejected", exc.message[:2000]
    except AssayError as exc:  # bad data, leakage, a training error: no model; the request stands
        return None, "failed", f"[{exc.code}] {exc.message}"[:2000]
    return result.model.ref, result.model.status.value, ""


__all__ = [
    "REQUESTED",
    "TRAINED",
    "RetrainingOutcome",
    "RetrainingReason",
    "request_retraining",
    "retraining_reasons",
]
