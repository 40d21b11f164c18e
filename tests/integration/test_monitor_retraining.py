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
        clock.advance(timedelta(days=30))
        later = request_retraining(project, model, [RetrainingReason("quality", "auc")], policy=policy, dedup="6h")
        entries = project.metadata.list_audit(subject=model.ref, action=REQUESTED)
    # the same reasons stand as long as production does; other reasons make a new request
    assert (first.requested, again.requested, other.requested, later.requested) == (True, False, True, False)
    assert again.previous_at == first_at(entries)
    assert [e.details["kinds"] for e in entries] == [["drift"], ["quality"]]
    assert first.trained is None and first.status is None


def test_a_request_whose_training_failed_is_made_again_after_the_dedup_period(demo: Path) -> None:
    clock = FixedClock(datetime.now(UTC) + timedelta(days=400))  # after the other tests' entries
    policy = RetrainingPolicy(train=True)

    def broken(project: Project):  # a training failure that is not a gate: e.g. the source is gone
        from assay.errors import DataSourceError
        raise DataSourceError("data/applications.csv does not exist", hint="restore it")

    with Project.open(demo, clock=clock) as project:
        model = project.resolve_model("credit-default@production")
        reasons = [RetrainingReason("age", "old"), RetrainingReason("drift", "3 windows")]
        first = request_retraining(project, model, reasons, policy=policy, dedup="6h", train=broken)
        clock.advance(timedelta(hours=1))
        soon = request_retraining(project, model, reasons, policy=policy, dedup="6h", train=broken)
        clock.advance(timedelta(hours=6))
        later = request_retraining(project, model, reasons, policy=policy, dedup="6h", train=broken)
    assert first.status == "failed" and "[data-source] data/applications.csv does not exist" in first.detail
    assert (first.requested, soon.requested, later.requested) == (True, False, True)


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
    assert [(e.details["model"], e.details["status"]) for e in trained[-2:]] == [
        (accepted.trained, "candidate"), (rejected.trained, "rejected")]


def test_monitor_check_asks_for_retraining_once_and_alerts(tmp_path: Path) -> None:
    """The CLI as a cron job runs it: an old production model makes `assay monitor check` record a
    request, alert the sinks with the retraining runbook and exit 1; the next check finds the
    request standing and sends nothing new."""
    import json
    import os
    import subprocess
    import sys

    project = run_demo(tmp_path / "demo", rows=2000).project_dir
    spec = project / "assay.yaml"
    spec.write_text(spec.read_text() + """
monitoring:
  sinks: [{kind: file, path: alerts.jsonl}]
  retraining: {on_drift_windows: null, max_model_age: 1s, train: false}
""")

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "assay", "-C", str(project), "monitor", "check", "--json"],
                              capture_output=True, text=True, timeout=120, check=False,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})

    first = check()
    assert first.returncode == 1, first.stderr
    report = json.loads(first.stdout)
    assert report["retraining"]["requested"] is True
    assert [r["kind"] for r in report["retraining"]["reasons"]] == ["age"]
    alerts = [json.loads(line) for line in (project / "alerts.jsonl").read_text().splitlines()]
    assert [(a["slo"], a["status"]) for a in alerts] == [("retraining", "firing")]
    assert alerts[0]["runbook"] == "docs/runbooks/retraining.md" and "credit-default:1" in alerts[0]["summary"]

    second = check()
    assert second.returncode == 1, second.stderr
    assert json.loads(second.stdout)["retraining"]["requested"] is False
    assert len((project / "alerts.jsonl").read_text().splitlines()) == 1  # one incident, one alert
    with Project.open(project) as opened:
        assert len(opened.metadata.list_audit(subject="credit-default:1", action=REQUESTED)) == 1
