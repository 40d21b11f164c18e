"""Retraining requests: the policy's reasons, one standing request per model, and training through
the normal gates, which gives a candidate or a rejected version and never moves production."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assay.clock import FixedClock
from assay.monitoring.retraining import (
    REQUESTED,
    TRAINED,
    RetrainingReason,
    request_retraining,
    retraining_reasons,
)
from assay.project.demo import run_demo
from assay.project.workspace import Project
from assay.registry.records import ModelStatus
from assay.spec.monitoring import RetrainingPolicy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_demo(tmp_path_factory.mktemp("retrain") / "demo", rows=3000).project_dir


def _with_gate(project_dir: Path, gate: str) -> None:
    spec = project_dir / "assay.yaml"
    text = spec.read_text()
    marker = "  metrics: [roc_auc, pr_auc, log_loss, brier, accuracy, f1]\n"
    assert marker in text
    spec.write_text(text.replace(marker, marker + f"  gates:\n    - {gate}\n"))


def _production(project: Project) -> str:
    return project.resolve_model("credit-default@production").ref


def test_the_policys_reasons() -> None:
    policy = RetrainingPolicy(on_drift_windows=3, on_quality_breach=True, max_model_age="30d")
    now = datetime(2026, 11, 28, tzinfo=UTC)

    class Model:
        ref = "m:1"
        created_at = now - timedelta(days=10)

    def kinds(**signals: object) -> list[str]:
        return [r.kind for r in retraining_reasons(policy, model=Model(), now=now, **signals)]  # type: ignore[arg-type]

    assert kinds() == []
    assert kinds(drift_windows=[True, True]) == []  # not sustained yet
    assert kinds(drift_windows=[False, True, True, True]) == ["drift"]
    assert kinds(drift_windows=[True, True, None, True]) == []  # "not enough data" breaks the streak
    assert kinds(quality_breaches=["auc"]) == ["quality"]
    old = RetrainingPolicy(max_model_age="7d", on_drift_windows=None)
    assert [r.kind for r in retraining_reasons(old, model=Model(), now=now,  # type: ignore[arg-type]
                                               drift_windows=[True] * 9)] == ["age"]


def test_a_request_is_recorded_once_while_it_stands(demo: Path) -> None:
    clock = FixedClock(datetime.now(UTC))
    policy = RetrainingPolicy(train=False)
    with Project.open(demo, clock=clock) as project:
        model = project.resolve_model("credit-default@production")
        drift = [RetrainingReason("drift", "drift in each of the last 3 window(s)")]
        first = request_retraining(project, model, drift, policy=policy, dedup="6h")
        clock.advance(timedelta(hours=1))
        again = request_retraining(project, model, drift, policy=policy, dedup="6h")
        other = request_retraining(project, model, [RetrainingReason("quality", "auc")], policy=policy, dedup="6h")
        clock.advance(timedelta(hours=7))
        later = request_retraining(project, model, [RetrainingReason("quality", "auc")], policy=policy, dedup="6h")
        entries = project.metadata.list_audit(subject=model.ref, action=REQUESTED)
    assert (first.requested, again.requested, other.requested, later.requested) == (True, False, True, True)
    assert again.previous_at == first_at(entries)
    assert [e.details["kinds"] for e in entries] == [["drift"], ["quality"], ["quality"]]
    assert first.trained is None and first.status is None


def first_at(entries: list) -> datetime:
    return entries[0].at


def test_retraining_goes_through_the_gates_and_never_promotes(demo: Path) -> None:
    policy = RetrainingPolicy(train=True)
    with Project.open(demo) as project:
        production = project.resolve_model("credit-default@production")
        accepted = request_retraining(project, production, [RetrainingReason("age", "old")], policy=policy,
                                      dedup="6h")
        assert accepted.requested and accepted.status == "candidate" and accepted.trained is not None
        assert project.resolve_model(accepted.trained).status is ModelStatus.CANDIDATE
        assert _production(project) == production.ref

    _with_gate(demo, "{metric: roc_auc, min: 0.9999}")  # no model of this data reaches it
    with Project.open(demo) as project:
        rejected = request_retraining(project, production, [RetrainingReason("drift", "3 windows")],
                                      policy=policy, dedup="6h")
        assert rejected.requested and rejected.status == "rejected" and rejected.trained is not None
        assert project.resolve_model(rejected.trained).status is ModelStatus.REJECTED
        assert "roc_auc" in rejected.detail
        assert _production(project) == production.ref
        trained = project.metadata.list_audit(subject=production.ref, action=TRAINED)
    assert [(e.details["model"], e.details["status"]) for e in trained] == [
        (accepted.trained, "candidate"), (rejected.trained, "rejected")]
