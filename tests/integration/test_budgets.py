"""Costs and budgets: every run records wall time, CPU time and peak memory per stage, `assay runs
show` says where the time went, and a declared budget warns or fails a run and a scoring job."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.batch import LocalEngine, ScoreOptions, score
from assay.errors import BudgetExceededError
from assay.project.demo import run_demo
from assay.project.pipeline import train_project
from assay.project.workspace import Project
from assay.registry.records import RunStatus
from tests.integration.cli_runner import cli, cli_json

pytestmark = pytest.mark.slow
STAGES = ["ingest", "load", "split", "leakage check", "train", "evaluate", "latency", "register", "total"]
SCORING_STAGES = ["resolve", "hash input", "plan", "score", "manifest", "total", "workers"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_demo(tmp_path_factory.mktemp("budgets") / "demo", rows=2000).project_dir


def _budgets(project: Path, text: str) -> None:
    spec = project / "assay.yaml"
    body = spec.read_text().split("\nbudgets:")[0].rstrip("\n")
    spec.write_text(body + f"\nbudgets: {text}\n")


def test_a_run_records_where_its_time_went(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Project.open(demo) as project:
        run = project.metadata.get_run(project.resolve_model("credit-default:1").run_id)
    costs = run.metrics["costs"]
    assert list(costs) == STAGES
    assert all(c["wall_s"] >= 0 and c["cpu_s"] >= 0 for c in costs.values())
    assert costs["train"]["cpu_s"] > 0 and costs["total"]["peak_rss_mib"] >= costs["train"]["peak_rss_mib"] > 50
    assert abs(costs["total"]["wall_s"] - sum(c["wall_s"] for s, c in costs.items() if s != "total")) < 1e-3
    latency = run.metrics["serving_latency_ms"]
    assert latency["calls"] == 200 and 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    code, out, _ = cli(capsys, "-C", str(demo), "runs", "show", run.id)
    assert code == 0 and "where the time went" in out and "leakage check" in out
    assert f"p99 {latency['p99']:.2f} ms" in out


def test_a_scoring_job_records_where_its_time_went(demo: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = demo / "data" / "applications.csv"
    with Project.open(demo) as project:
        summary = score(project, "credit-default:1", input_url=str(data), output_url=str(tmp_path / "a"),
                        engine=LocalEngine(1), options=ScoreOptions(chunk_rows=1000))
        (entry,) = [e for e in project.metadata.list_audit(subject="credit-default:1", action="score")
                    if e.details["job_id"] == summary.job_id]
    costs = summary.to_dict()["costs"]
    assert list(costs) == SCORING_STAGES
    assert all(c["wall_s"] >= 0 and c["cpu_s"] >= 0 for c in costs.values())
    assert costs["score"]["wall_s"] > costs["total"]["wall_s"] / 2  # the workers start, load the model and score
    assert abs(costs["total"]["wall_s"] - sum(c["wall_s"] for s, c in costs.items() if s not in ("total", "workers"))) < 1e-3
    assert costs["resolve"]["peak_rss_mib"] > 20  # the coordinator, sampled while the stage ran
    assert 0 < costs["workers"]["cpu_s"] <= summary.cpu_s and costs["workers"]["peak_rss_mib"] > 20
    assert entry.details["costs"] == costs

    code, out, _ = cli(capsys, "-C", str(demo), "score", "credit-default:1", "--input", str(data), "--output",
                       str(tmp_path / "b"), "--workers", "1", "--chunk-rows", "1000")
    assert code == 0 and "where the time went" in out and "hash input" in out and "workers" in out
    again = cli_json(capsys, "-C", str(demo), "score", "credit-default:1", "--input", str(data), "--output",
                     str(tmp_path / "b"), "--chunk-rows", "1000")
    assert isinstance(again, dict) and again["status"] == "complete"
    assert list(again["costs"]) == ["resolve", "hash input", "total", "workers"]  # nothing was planned or scored
    assert again["costs"]["workers"] == {"wall_s": 0.0, "cpu_s": 0.0, "peak_rss_mib": None}


def test_a_training_budget_warns_or_fails_the_run(demo: Path) -> None:
    _budgets(demo, "{training_minutes: 0.0001, on_breach: warn}")  # any run takes longer than 6 ms
    with Project.open(demo) as project:
        warned = train_project(project)
        assert warned.model.status.value in ("candidate", "rejected")
        breaches = project.metadata.get_run(warned.run.id).metrics["budget_breaches"]
        assert breaches[0]["budget"] == "training_minutes" and breaches[0]["used"] > 0.0001
    _budgets(demo, "{training_minutes: 0.0001, on_breach: fail}")
    with Project.open(demo) as project, pytest.raises(BudgetExceededError) as failed:
        train_project(project)
    assert "budgets.training_minutes" in str(failed.value) and "slowest stage" in str(failed.value)
    with Project.open(demo) as project:
        newest = project.metadata.list_runs(limit=1)[0]
        assert newest.status is RunStatus.FAILED and "costs" in newest.metrics
        assert sorted(m.version for m in project.metadata.list_models(name="credit-default")) == [1, 2]  # none new
    _budgets(demo, "{}")


def test_a_serving_latency_budget_warns_or_fails_the_run(demo: Path) -> None:
    # No model answers a row in a microsecond: the budget is broken; a generous one is kept.
    _budgets(demo, "{serving_p99_ms: 0.001, on_breach: warn}")
    with Project.open(demo) as project:
        warned = project.metadata.get_run(train_project(project).run.id)
        (breach,) = warned.metrics["budget_breaches"]
        assert breach["budget"] == "serving_p99_ms" and breach["used"] == warned.metrics["serving_latency_ms"]["p99"]
    _budgets(demo, "{serving_p99_ms: 0.001, on_breach: fail}")
    with Project.open(demo) as project, pytest.raises(BudgetExceededError) as failed:
        train_project(project)
    assert "budgets.serving_p99_ms" in str(failed.value) and "at p99 (200 calls)" in str(failed.value)
    _budgets(demo, "{serving_p99_ms: 60000, on_breach: fail}")
    with Project.open(demo) as project:
        kept = project.metadata.get_run(train_project(project).run.id)
        assert "budget_breaches" not in kept.metrics
    _budgets(demo, "{}")


def test_a_scoring_budget_warns_or_fails_the_job(demo: Path, tmp_path: Path) -> None:
    data = demo / "data" / "applications.csv"
    _budgets(demo, "{scoring_cpu_s_per_million_rows: 0.001, on_breach: warn}")
    events: list[str] = []
    with Project.open(demo) as project:
        summary = score(project, "credit-default:1", input_url=str(data), output_url=str(tmp_path / "a"),
                        engine=LocalEngine(1), options=ScoreOptions(chunk_rows=1000), on_event=events.append)
    assert summary.cpu_s > 0 and len(summary.budget_breaches) == 1
    assert any("over budgets.scoring_cpu_s_per_million_rows" in e for e in events)
    _budgets(demo, "{scoring_cpu_s_per_million_rows: 0.001, on_breach: fail}")
    with Project.open(demo) as project, pytest.raises(BudgetExceededError) as failed:
        score(project, "credit-default:1", input_url=str(data), output_url=str(tmp_path / "b"),
              engine=LocalEngine(1), options=ScoreOptions(chunk_rows=1000))
    assert "the output is complete and kept" in str(failed.value)
    assert (tmp_path / "b" / "_assay_manifest.json").exists()
    _budgets(demo, "{}")
