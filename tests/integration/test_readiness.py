"""`assay readiness MODEL` on the demo project: the ML Test Score rubric and the platform rules.

What a user relies on: what the platform provides passes, and every pass points to records that
really exist (resolved here independently of the report's own code); what the demo deliberately
lacks (SLOs, runbooks, canary history, approvals, labels) fails with the reason; adding SLOs and
runbooks flips the monitoring items; the score is the minimum of the section sums; the HTML page
stands alone; a reproduction is cited once recorded; a tampered model artifact fails the
immutable-artifact rule.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.governance_support import approve_as_reviewer
from assay.monitoring.readiness import readiness
from assay.project.demo import run_demo
from assay.project.workspace import Project
from tests.integration.cli_runner import cli, cli_json

pytestmark = pytest.mark.slow
MODEL = "credit-default:1"
SVG_NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
PROVIDED = {
    "data-1", "data-4", "data-5", "model-4", "model-7", "infra-1", "infra-2", "infra-3",
    "monitoring-2", "monitoring-3", "monitoring-4", "monitoring-5",
    "lineage", "approvals", "leakage-gate", "reproducibility", "immutable-artifact", "calibration", "fairness",
}
LACKED = {  # item -> a word its explanation must contain
    "monitoring-slos": "monitoring.slos", "runbooks": "runbooks", "rollout-history": "canary",
    "infra-6": "canary", "model-2": "labels", "monitoring-7": "labels",
    "retention": "retention",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_demo(tmp_path_factory.mktemp("readiness") / "demo", rows=4000).project_dir


@pytest.fixture
def copy(demo: Path, tmp_path: Path) -> Path:
    """A private copy of the demo for tests that change it."""
    return Path(shutil.copytree(demo, tmp_path / "demo"))


def value_path(dotted: str) -> list[str]:
    return ["data_schema" if part == "schema" else part for part in dotted.split(".")]


def exists(project: Project, record: str) -> bool:
    """Resolve an evidence reference directly against the stores and the folder."""
    kind, _, value = record.partition(":")
    if kind == "run":
        return project.metadata.get_run(value).id == value
    if kind == "dataset":
        return project.metadata.get_dataset(value).id == value
    if kind == "model":
        return project.resolve_model(value).ref == value
    if kind == "deployment":
        return project.metadata.get_deployment(value).production is not None
    if kind == "artifact":
        return Path(project.artifacts.path_of(value)).is_file()
    if kind == "audit":
        return int(value) in {e.seq for e in project.metadata.list_audit(limit=100_000)}
    if kind == "spec":  # a field of the effective spec (defaults included) that is set
        current: object = project.load_spec()[0]
        for part in value_path(value):
            current = current[int(part)] if isinstance(current, list) else getattr(current, part, None)
        return current not in (None, [], {})
    if kind == "file":
        return (project.root / value).exists()
    raise AssertionError(f"unknown evidence kind in {record!r}")


def test_the_demo_passes_what_the_platform_provides_with_evidence_that_exists(demo: Path) -> None:
    with Project.open(demo) as project:
        report = readiness(project, MODEL)
        assert len(report.items) == 28 + 12
        assert all(len(report.section(s)) == 7 for s in ("data", "model", "infrastructure", "monitoring"))
        passing = {item.id for item in report.items if item.status == "pass"}
        assert PROVIDED <= passing
        for item in report.items:
            if item.status == "pass":
                assert item.evidence, item.id
            for evidence in item.evidence:
                assert exists(project, evidence.record), (item.id, evidence.record)
        model = project.resolve_model(MODEL)
        immutable = report.item("immutable-artifact")
        assert [e.record for e in immutable.evidence] == [f"artifact:{model.artifact_sha256}"]


def test_what_the_demo_lacks_fails_with_the_reason(demo: Path) -> None:
    with Project.open(demo) as project:
        report = readiness(project, MODEL)
    for item_id, word in LACKED.items():
        item = report.item(item_id)
        assert item.status == "fail" and item.points == 0, item_id
        assert word in item.explanation, (item_id, item.explanation)
    approvals = report.item("approvals")  # the demo walks four-eyes: demo-reviewer approved
    assert approvals.explanation.startswith("approved by demo-reviewer (1 required from role approver, four-eyes)")
    assert report.item("data-3").status == "not applicable" and report.item("data-3").explanation


def test_the_score_is_the_minimum_of_the_section_sums_and_the_cli_exits_0(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = cli_json(capsys, "-C", str(demo), "readiness", MODEL)
    sums = {section: sum(i["points"] for i in data["items"] if i["section"] == section)
            for section in ("data", "model", "infrastructure", "monitoring")}
    assert data["section_scores"] == sums
    assert data["score"] == min(sums.values()) > 0
    assert all(i["points"] == (1.0 if i["status"] == "pass" else 0.0) for i in data["items"] if i["section"] != "platform")
    assert all(i["points"] == 0 for i in data["items"] if i["section"] == "platform")
    assert data["rules"]["passed"] == sum(i["status"] == "pass" for i in data["items"] if i["section"] == "platform")
    assert cli(capsys, "-C", str(demo), "readiness", MODEL, "--min-score", str(data["score"]))[0] == 0
    code, out, _ = cli(capsys, "-C", str(demo), "readiness", MODEL, "--min-score", str(data["score"] + 0.5))
    assert code == 1 and f"ML Test Score {data['score']:g}" in out
    code, _, err = cli(capsys, "-C", str(demo), "readiness", "credit-default:9")
    assert code == 5 and "not-found" in err


def test_the_html_page_is_self_contained_and_shows_every_item(demo: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    data = cli_json(capsys, "-C", str(demo), "readiness", MODEL, "--html", str(tmp_path / "r" / "readiness.html"))
    page = Path(data["html"]).read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<link" not in page.lower() and "<img" not in page.lower()
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) <= SVG_NAMESPACES
    assert f"ML Test Score {data['score']:g}" in page
    for item in data["items"]:
        assert item["title"].replace("'", "&#x27;") in page
        for evidence in item["evidence"]:
            assert evidence["record"] in page


def test_slos_runbooks_and_retention_flip_their_items(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pristine = cli_json(capsys, "-C", str(copy), "readiness", MODEL)
    with copy.joinpath("assay.yaml").open("a", encoding="utf-8") as spec:
        spec.write(
            "\nmonitoring:\n"
            "  slos:\n"
            "    - {name: answers, kind: availability, objective: 0.999}\n"
            "    - {name: fast, kind: latency, objective: 0.99, threshold_ms: 50}\n"
            "budgets:\n"
            "  training_minutes: 30\n"
            "retention:\n"
            "  prediction_logs: 90d\n"
            "  snapshots: {keep_last: 5}\n"
        )
    before = cli_json(capsys, "-C", str(copy), "readiness", MODEL)
    assert {i["id"]: i["status"] for i in before["items"]}["runbooks"] == "fail"
    assert "availability.md" in {i["id"]: i for i in before["items"]}["runbooks"]["explanation"]
    cli_json(capsys, "-C", str(copy), "monitor", "runbooks")
    after = cli_json(capsys, "-C", str(copy), "readiness", MODEL)
    items = {i["id"]: i for i in after["items"]}
    for item_id in ("monitoring-slos", "runbooks", "monitoring-6", "retention"):
        assert items[item_id]["status"] == "pass", items[item_id]
    assert {e["record"] for e in items["retention"]["evidence"]} == {
        "spec:retention.prediction_logs", "spec:retention.snapshots.keep_last"}
    assert {e["record"] for e in items["runbooks"]["evidence"]} == {
        f"file:docs/runbooks/{kind}.md" for kind in ("availability", "latency", "retraining")}
    assert after["section_scores"]["monitoring"] == pristine["section_scores"]["monitoring"] + 1
    with Project.open(copy) as project:
        for item in after["items"]:
            for evidence in item["evidence"]:
                assert exists(project, evidence["record"]), (item["id"], evidence["record"])


def test_a_recorded_reproduction_is_cited(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "-C", str(copy), "reproduce", MODEL)[0] == 0
    item = next(i for i in cli_json(capsys, "-C", str(copy), "readiness", MODEL)["items"] if i["id"] == "reproducibility")
    assert item["status"] == "pass" and "reproduced with identical predictions" in item["explanation"]
    with Project.open(copy) as project:
        entry = project.metadata.list_audit(subject=MODEL, action="model.reproduced")[-1]
    assert f"audit:{entry.seq}" in {e["record"] for e in item["evidence"]}
    assert entry.details["run_id"] and entry.details["predictions_identical"] is True


def test_tampering_with_the_model_artifact_fails_the_immutable_artifact_rule(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Project.open(copy) as project:
        path = Path(project.artifacts.path_of(project.resolve_model(MODEL).artifact_sha256))
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    code, out, _ = cli(capsys, "-C", str(copy), "readiness", MODEL, "--json")
    assert code == 0  # a report, not a verdict
    item = next(i for i in json.loads(out)["items"] if i["id"] == "immutable-artifact")
    assert item["status"] == "fail" and "tampered" in item["explanation"]


def test_a_canary_and_a_fallback_pass_the_rollout_items(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "-C", str(copy), "train")[0] == 0
    cli_json(capsys, "-C", str(copy), "deploy", "credit-default:2", "--canary", "10")
    items = {i["id"]: i for i in cli_json(capsys, "-C", str(copy), "readiness", "credit-default:2")["items"]}
    with Project.open(copy) as project:
        canary = project.metadata.list_audit(subject="credit-default", action="deployment.canary")[-1]
    for item_id in ("infra-6", "rollout-history"):
        assert items[item_id]["status"] == "pass"
        assert f"audit:{canary.seq}" in {e["record"] for e in items[item_id]["evidence"]}
    assert items["approvals"]["status"] == "fail" and "0 of 1 approvals" in items["approvals"]["explanation"]
    code, _, err = cli(capsys, "-C", str(copy), "deploy", "credit-default:2", "--promote")
    assert code == 15 and "approval-required" in err
    approve_as_reviewer(copy, "credit-default:2")
    cli_json(capsys, "-C", str(copy), "deploy", "credit-default:2", "--promote")
    items = {i["id"]: i for i in cli_json(capsys, "-C", str(copy), "readiness", "credit-default:2")["items"]}
    assert items["infra-7"]["status"] == "pass" and "version 1" in items["infra-7"]["explanation"]
    with Project.open(copy) as project:
        approved = project.metadata.list_audit(subject="credit-default:2", action="model.approved")[-1]
    assert items["approvals"]["status"] == "pass" and approved.actor == "test-reviewer"
    assert f"audit:{approved.seq}" in {e["record"] for e in items["approvals"]["evidence"]}


def test_a_failed_reproduction_and_an_altered_record_fail_their_items(copy: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with Project.open(copy) as project:
        sha = project.metadata.get_run(project.resolve_model(MODEL).run_id).artifacts["predictions.test"]
        path = Path(project.artifacts.path_of(sha))
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-8] + b"\x00" * 8)
    assert cli(capsys, "-C", str(copy), "reproduce", MODEL)[0] == 1
    code, out, _ = cli(capsys, "-C", str(copy), "readiness", MODEL, "--json")
    assert code == 0
    items = {i["id"]: i for i in json.loads(out)["items"]}
    with Project.open(copy) as project:
        verdict = project.metadata.list_audit(subject=MODEL, action="model.not-reproduced")[-1]
    assert items["reproducibility"]["status"] == "fail" and "last reproduction failed" in items["reproducibility"]["explanation"]
    assert f"audit:{verdict.seq}" in {e["record"] for e in items["reproducibility"]["evidence"]}
    assert items["monitoring-5"]["status"] == "fail" and "cannot be read" in items["monitoring-5"]["explanation"]
