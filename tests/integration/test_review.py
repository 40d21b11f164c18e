"""The approval review of a model version, on real projects: the demo's production model, a second
version trained from a changed spec, and a project with nothing in production yet."""

from __future__ import annotations

import json
import shutil
import stat
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cli_runner import cli, cli_json

from tests.governance_support import approve_as_reviewer
from assay.project import Project
from assay.project.demo import create_demo_project, run_demo
from assay.project.pipeline import train_project
from assay.project.review import FIRST_PRODUCTION, Review, review
from assay.project.review_page import render_review_html, render_review_text
from assay.registry.records import ModelVersion
from assay.security.providers import SecretProviders
from assay.security.secrets import resolve_secret

pytestmark = pytest.mark.slow

ROWS = 2000
REMOVED = "employment_years"
WAIVER_REASON = "returning customers apply again after the time cut-off"
SPEC_EDITS = (  # (demo spec text, what version 2 is trained with)
    ("    max_iter: 200\n", "    max_iter: 120\n"),
    ("  preprocessing: auto ", f"  features:\n    exclude: [{REMOVED}]\n  preprocessing: auto "),
    ("  waivers: []", f"  waivers: [{{kind: entity_overlap, reason: {WAIVER_REASON}}}]"),
    ("  metrics: [roc_auc, pr_auc, log_loss, brier, accuracy, f1]\n",
     "  metrics: [roc_auc, pr_auc, log_loss, brier, accuracy, f1]\n  gates:\n    - {metric: roc_auc, min: 0.55}\n"),
)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo: credit-default:1, trained and promoted to production."""
    result = run_demo(tmp_path_factory.mktemp("review") / "demo", rows=ROWS)
    assert result.production == "credit-default:1"
    return result.project_dir


@pytest.fixture(scope="module")
def second_dir(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo with credit-default:2 trained from a changed spec (not promoted)."""
    target = tmp_path_factory.mktemp("review-v2") / "demo"
    shutil.copytree(demo_dir, target)
    for path in target.rglob("*"):
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    spec_path = target / "assay.yaml"
    text = spec_path.read_text(encoding="utf-8")
    for old, new in SPEC_EDITS:
        assert old in text, old
        text = text.replace(old, new, 1)
    spec_path.write_text(text, encoding="utf-8")
    with Project.open(target) as project:
        assert train_project(project).model.ref == "credit-default:2"
    return target


def _models(directory: Path) -> tuple[Review, ModelVersion, ModelVersion, dict[str, Any]]:
    """The review of credit-default:2, both model versions, and version 2's run record (metrics and params)."""
    with Project.open(directory) as project:
        found = review(project, "credit-default:2")
        new, old = project.resolve_model("credit-default:2"), project.resolve_model("credit-default:1")
        run = project.metadata.get_run(new.run_id)
    return found, new, old, {**run.metrics, "params": run.params}


def test_review_compares_with_production_metric_by_metric(second_dir: Path) -> None:
    found, new, old, run_metrics = _models(second_dir)
    assert found.production == "credit-default:1" and found.diff.against == "credit-default:1"
    assert found.diff.note == ""
    deltas = found.diff.metrics
    assert deltas[0].metric == run_metrics["primary"] == "roc_auc" and deltas[0].primary
    assert [d.metric for d in deltas if d.primary] == ["roc_auc"]
    assert {d.metric for d in deltas} == set(new.metrics) | set(old.metrics)
    for delta in deltas:
        assert delta.candidate == new.metrics[delta.metric] and delta.production == old.metrics[delta.metric]
        assert delta.delta == pytest.approx(new.metrics[delta.metric] - old.metrics[delta.metric])
    log_loss = next(d for d in deltas if d.metric == "log_loss")
    assert log_loss.improved == (log_loss.delta < 0)  # lower is better for a loss


def test_review_lists_the_removed_feature_and_the_data(second_dir: Path) -> None:
    found, new, old, _ = _models(second_dir)
    assert found.diff.features_removed == (REMOVED,)
    assert found.diff.features_added == () and found.diff.type_changed == ()
    assert REMOVED in {c["name"] for c in old.signature["inputs"]} - {c["name"] for c in new.signature["inputs"]}
    dataset = found.diff.dataset
    assert dataset is not None and dataset["same"] is True
    assert dataset["candidate"]["rows"] == dataset["production"]["rows"] == ROWS


def test_review_diffs_the_spec_snapshots(second_dir: Path) -> None:
    found, *_ = _models(second_dir)
    lines = found.diff.spec_diff
    assert lines[0] == "--- credit-default:1 assay.yaml" and lines[1] == "+++ credit-default:2 assay.yaml"
    assert "-    max_iter: 200" in lines and "+    max_iter: 120" in lines
    assert f"+    exclude: [{REMOVED}]" in lines
    assert not any(line.startswith(("-", "+")) and "learning_rate" in line for line in lines)


def test_review_shows_the_recorded_gates_and_the_waivers(second_dir: Path) -> None:
    found, _, _, run_metrics = _models(second_dir)
    assert [g.to_dict() for g in found.gates] == run_metrics["gates"]
    assert [g.gate for g in found.gates] == ["roc_auc >= 0.55"] and all(g.passed for g in found.gates)
    assert [(w.kind, w.columns, w.reason) for w in found.waivers] == [("entity_overlap", (), WAIVER_REASON)]
    recorded = run_metrics["params"]["leakage"]["waived"]
    assert [list(c) for c in found.waivers[0].waived] == [f["columns"] for f in recorded]
    assert found.card.passed is True and found.card.html_sha256 and found.card.primary_metric == "roc_auc"
    assert found.card.metrics["roc_auc"] == found.model.metrics["roc_auc"]


def test_cli_json_is_the_review(second_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found, *_ = _models(second_dir)
    printed = cli_json(capsys, "-C", str(second_dir), "models", "review", "credit-default:2")
    assert printed == json.loads(json.dumps(found.to_dict()))
    assert printed["approvals"] == [] and printed["policy"]["met"] is False
    assert printed["policy"]["missing"].startswith("it has 0 of 1 approvals")
    code, out, err = cli(capsys, "-C", str(second_dir), "models", "review", "credit-default:2")
    assert code == 0, err
    assert "production: credit-default:1" in out and f"removed {REMOVED}" in out and "+    max_iter: 120" in out


def test_cli_html_writes_a_page_without_scripts_linking_the_card(
    second_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "out" / "review.html"
    code, out, err = cli(capsys, "-C", str(second_dir), "models", "review", "credit-default:2", "--html", str(page))
    assert code == 0, err
    text = page.read_text(encoding="utf-8")
    assert "credit-default:2" in text and "credit-default:1" in text and "<script" not in text.lower()
    assert 'href="model-card-credit-default-2.html"' in text
    assert (page.parent / "model-card-credit-default-2.html").is_file()
    assert f"review page: {page}" in out


def test_review_of_the_production_model_has_an_empty_diff(demo_dir: Path) -> None:
    with Project.open(demo_dir) as project:
        found = review(project, "credit-default@production")
    assert found.is_production and found.production == "credit-default:1"
    assert found.diff.is_empty and found.diff.dataset is None and "is the production model" in found.diff.note
    assert "diff: credit-default:1 is the production model" in render_review_text(found)


def test_review_without_production_says_first_production_model(tmp_path: Path) -> None:
    create_demo_project(tmp_path / "fresh", rows=ROWS)
    with Project.open(tmp_path / "fresh") as project:
        train_project(project)
        found = review(project, "credit-default:1")
    assert found.production is None and found.diff.against is None and found.diff.note == FIRST_PRODUCTION
    data = found.to_dict()
    assert data["diff"]["metrics"] == [] and data["diff"]["spec_diff"] == [] and data["diff"]["dataset"] is None
    assert data["card"]["verdict"] == "passed" and data["model"]["ref"] == "credit-default:1"
    lines = render_review_text(found)
    assert any("first production model" in line for line in lines)
    assert any(line.startswith("card: verdict passed") for line in lines)
    page = render_review_html(found)
    assert "first production model" in page and "<script" not in page


def test_approvals_show_what_the_policy_still_needs_then_who_approved(second_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(second_dir, tmp_path / "approved"))
    with Project.open(copy) as project:
        before = review(project, "credit-default:2")
    assert any(line.startswith("approvals: 0 of 1; still needed: it has 0 of 1 approvals") for line in
               render_review_text(before))
    approve_as_reviewer(copy, "credit-default:2", reviewer="alice")
    with Project.open(copy) as project:
        after = review(project, "credit-default:2")
    (decision,) = after.to_dict()["approvals"]
    assert (decision["decision"], decision["actor"], decision["comment"]) == ("approve", "alice", "reviewed in a test")
    assert after.to_dict()["policy"]["approved_by"] == ["alice"] and after.to_dict()["policy"]["met"] is True
    line = next(line for line in render_review_text(after) if line.startswith("approvals:"))
    assert line.startswith("approvals: 1 of 1 (approve by alice at ") and line.endswith("the policy is met")
    assert "approve by alice" in render_review_html(after)


def test_a_resolved_secret_never_shows_in_the_review(second_dir: Path) -> None:
    value = "review-leak-value-" + "Tq83nWz5"
    resolve_secret("env:ASSAY_REVIEW_SECRET", SecretProviders({"ASSAY_REVIEW_SECRET": value})).reveal()
    found, *_ = _models(second_dir)
    leaky = replace(found, model=replace(found.model, description=f"trained with token {value}"))
    text, page = "\n".join(render_review_text(leaky)), render_review_html(leaky)
    assert value not in text and value not in page
    assert "  description: trained with token ***" in text.splitlines()
    assert "<p>trained with token ***</p>" in page
