"""Evaluation that decides, in a real project through the CLI: the threshold chosen on validation
from a cost matrix, bootstrap intervals, gates that reject, and the comparison with production."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tests.governance_support import approve_as_reviewer
from assay.project import Project, Settings
from cli_runner import cli, cli_json

SPEC = """\
version: 1
project: loans
seed: 11
data:
  source: loans.csv
  target: defaulted
split:
  strategy: stratified
  validation_fraction: 0.25
  test_fraction: 0.25
model:
  name: loans
  estimator: sklearn.linear_model.LogisticRegression
  params: {{max_iter: 500}}
  features: {{include: {features}}}
evaluation:
  confidence: {{resamples: 300}}
{extra}"""


def _data(rows: int = 1600, seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    noise = rng.normal(size=rows)
    defaulted = (rng.random(rows) < 1 / (1 + np.exp(-(2.2 * signal - 1.2)))).astype(int)
    return pl.DataFrame({"signal": signal, "noise": noise, "defaulted": defaulted})


def _project(tmp_path: Path, *, features: str = "[signal, noise]", extra: str = "") -> Path:
    folder = tmp_path / "loans"
    folder.mkdir(exist_ok=True)
    if not (folder / "loans.csv").exists():
        _data().write_csv(folder / "loans.csv")
    (folder / "assay.yaml").write_text(SPEC.format(features=features, extra=extra))
    return folder


def _artifact(project_dir: Path, sha256: str) -> bytes:
    with Project.open(project_dir, settings=Settings()) as project:
        return project.artifacts.get_bytes(sha256)


def test_cost_matrix_threshold_is_the_cost_minimising_one_on_validation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _project(tmp_path, extra="  decision:\n    costs: {false_positive: 1, false_negative: 6}\n")
    summary = cli_json(capsys, "-C", str(folder), "run")
    with Project.open(folder, settings=Settings()) as project:
        run = project.metadata.get_run(summary["run_id"])
        scores = np.load(io.BytesIO(project.artifacts.get_bytes(run.artifacts["predictions.validation"])))[:, 1]
        manifest = json.loads(project.artifacts.get_bytes(run.artifacts["split"]))
    labels = _data().get_column("defaulted").to_numpy()[manifest["splits"]["validation"]]
    decision = run.metrics["decision"]
    assert decision["rule"] == "min_cost" and run.metrics["validation"]["threshold"] == decision["threshold"]

    def cost(threshold: float) -> float:
        act = scores >= threshold
        return float((act & (labels == 0)).sum() * 1 + (~act & (labels == 1)).sum() * 6) / len(labels)

    best = min(cost(t) for t in [*np.unique(scores), np.inf])  # brute force over every candidate
    assert cost(decision["threshold"]) == pytest.approx(best)
    assert decision["expected_cost_per_row"] == pytest.approx(best)
    # the test split is measured at the validation threshold, never used to choose it
    assert run.metrics["test"]["threshold"] == decision["threshold"]
    assert run.metrics["test"]["expected_cost"] is not None


def test_intervals_bracket_the_estimate_and_repeat_with_the_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _project(tmp_path)
    first = cli_json(capsys, "-C", str(folder), "run")
    second = cli_json(capsys, "-C", str(folder), "run")
    with Project.open(folder, settings=Settings()) as project:
        a = project.metadata.get_run(first["run_id"]).metrics
        b = project.metadata.get_run(second["run_id"]).metrics
    auc = a["intervals"]["roc_auc"]
    assert auc["low"] < a["test"]["roc_auc"] < auc["high"] and auc["level"] == 0.95 and auc["resamples"] == 300
    assert a["intervals"] == b["intervals"]


def test_a_failing_gate_rejects_the_model_and_keeps_the_evidence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _project(tmp_path, extra="  gates:\n    - {metric: roc_auc, min: 0.99}\n    - {metric: brier, max: 0.5}\n")
    code, _, err = cli(capsys, "-C", str(folder), "run")
    assert code == 11 and "roc_auc >= 0.99" in err and "rejected" in err
    assert "1 of 2 evaluation gate(s)" in err
    (model,) = cli_json(capsys, "-C", str(folder), "models", "list")
    assert model["status"] == "rejected"
    with Project.open(folder, settings=Settings()) as project:
        version = project.metadata.get_model("loans", 1)
        run = project.metadata.get_run(version.run_id)
        evidence = json.loads(project.artifacts.get_bytes(run.artifacts["evaluation"]))
    assert run.status.value == "succeeded" and run.metrics["gates_passed"] is False
    assert [(g["gate"], g["passed"]) for g in evidence["gates"]] == [("roc_auc >= 0.99", False), ("brier <= 0.5", True)]
    code, _, err = cli(capsys, "-C", str(folder), "models", "alias", "loans:1", "production")
    assert code == 7 and "rejected" in err


def test_passing_gates_register_a_candidate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _project(tmp_path, extra="  gates:\n    - {metric: roc_auc, min: 0.6}\n    - {no_regression_vs: production}\n")
    summary = cli_json(capsys, "-C", str(folder), "run")  # nothing holds production yet: that gate passes
    (model,) = cli_json(capsys, "-C", str(folder), "models", "list")
    assert model["status"] == "candidate"
    with Project.open(folder, settings=Settings()) as project:
        gates = project.metadata.get_run(summary["run_id"]).metrics["gates"]
    assert gates[1]["passed"] and "no model holds the alias" in gates[1]["detail"]


def test_a_model_significantly_worse_than_production_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _project(tmp_path, extra="  gates:\n    - {no_regression_vs: production}\n")
    cli_json(capsys, "-C", str(folder), "run")
    approve_as_reviewer(folder, "loans:1")
    assert cli(capsys, "-C", str(folder), "models", "alias", "loans:1", "production")[0] == 0
    again = cli_json(capsys, "-C", str(folder), "run")  # the same model again: no significant difference
    with Project.open(folder, settings=Settings()) as project:
        (gate,) = project.metadata.get_run(again["run_id"]).metrics["gates"]
    assert gate["passed"] and "no significant difference" in gate["detail"]
    _project(tmp_path, features="[noise]", extra="  gates:\n    - {no_regression_vs: production}\n")
    code, _, err = cli(capsys, "-C", str(folder), "run")  # a model that only sees noise
    assert code == 11 and "no regression vs production" in err and "worse" in err
    statuses = {m["ref"]: m["status"] for m in cli_json(capsys, "-C", str(folder), "models", "list")}
    assert statuses["loans:3"] == "rejected" and statuses["loans:1"] == "approved"  # the reviewer's approval


def test_gate_metrics_are_checked_when_the_spec_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _project(tmp_path, extra="  gates:\n    - {metric: expected_cost, max: 1}\n")
    code, _, err = cli(capsys, "-C", str(folder), "spec", "check")
    assert code == 3 and "evaluation.gates.0.metric" in err and "expected_cost" in err
    folder = _project(tmp_path, extra="  decision: {target_precision: 0.8, target_recall: 0.5}\n")
    code, _, err = cli(capsys, "-C", str(folder), "spec", "check")
    assert code == 3 and "exactly one of" in err


def test_evaluate_rescores_the_test_rows_or_a_new_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _project(tmp_path, extra="  decision: {target_recall: 0.8}\n  gates:\n    - {metric: roc_auc, min: 0.75}\n")
    summary = cli_json(capsys, "-C", str(folder), "run")
    again = cli_json(capsys, "-C", str(folder), "evaluate", "loans:1")
    assert again["rows"].startswith("the test split") and again["row_count"] == summary["split_sizes"]["test"]
    assert again["metrics"]["test"]["roc_auc"] == summary["metrics"]["test"]["roc_auc"]
    assert again["decision"]["threshold"] == summary["decision"]["threshold"]  # recorded, not chosen again
    assert again["intervals"]["roc_auc"]["low"] == pytest.approx(summary["intervals"]["roc_auc"]["low"])
    costs = again["costs"]  # what each stage of the evaluation cost
    assert list(costs) == ["load", "predict", "assess", "total"]
    assert all(c["wall_s"] >= 0 and c["cpu_s"] >= 0 and c["peak_rss_mib"] > 20 for c in costs.values())
    assert costs["total"]["wall_s"] == pytest.approx(sum(c["wall_s"] for s, c in costs.items() if s != "total"), abs=1e-3)
    # a new month where the signal no longer predicts: every row is scored and the gate fails
    _data(600, seed=9).with_columns(pl.col("signal").shuffle(seed=1)).write_csv(folder / "loans.csv")
    newer = cli_json(capsys, "-C", str(folder), "ingest")["dataset_version"]
    code, out, _ = cli(capsys, "-C", str(folder), "evaluate", "loans:1", "--dataset", newer, "--json")
    report = json.loads(out)
    assert code == 1 and report["row_count"] == 600 and report["rows"] == f"all rows of {newer}"
    assert report["gates"][0]["passed"] is False and report["metrics"]["test"]["roc_auc"] < 0.65


def test_the_model_card_opens_with_the_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _project(tmp_path, extra="  gates:\n    - {metric: roc_auc, min: 0.99}\n")
    assert cli(capsys, "-C", str(folder), "run")[0] == 11
    code, out, _ = cli(capsys, "-C", str(folder), "models", "card", "loans:1", "--out", str(tmp_path / "cards"))
    assert code == 0 and out.strip() == str(tmp_path / "cards" / "model-card-loans-1.html")
    page = (tmp_path / "cards" / "model-card-loans-1.html").read_text()
    document = json.loads((tmp_path / "cards" / "model-card-loans-1.json").read_text())
    assert document["model"]["status"] == "rejected" and document["verdict"]["passed"] is False
    assert page.index("Rejected") < page.index("How good")  # the verdict comes first
    assert "roc_auc &gt;= 0.99" in page and "<script" not in page
    with Project.open(folder, settings=Settings()) as project:
        run = project.metadata.get_run(project.metadata.get_model("loans", 1).run_id)
        stored = project.artifacts.get_bytes(run.artifacts["card.html"]).decode()
    assert stored == page  # the page written is the one stored with the run at registration


def _overconfident(rows: int = 4000, seed: int = 4) -> pl.DataFrame:
    """Four noisy copies of one signal: naive Bayes counts the evidence four times over, so its
    probabilities are far too confident (a deliberately miscalibrated model)."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    defaulted = (rng.random(rows) < 1 / (1 + np.exp(-(1.5 * signal - 1.0)))).astype(int)
    return pl.DataFrame({**{f"x{i}": signal + rng.normal(scale=0.3, size=rows) for i in range(4)}, "defaulted": defaulted})


CALIBRATED_SPEC = """\
version: 1
project: loans
seed: 11
data:
  source: loans.csv
  target: defaulted
split:
  strategy: stratified
model:
  name: loans
  estimator: sklearn.naive_bayes.GaussianNB
evaluation:
  confidence: {{resamples: 200}}
  calibration: {{method: {method}}}
"""


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_a_calibrator_from_held_out_training_rows_improves_ece_and_ships_with_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], method: str
) -> None:
    folder = tmp_path / "loans"
    folder.mkdir()
    _overconfident().write_csv(folder / "loans.csv")
    (folder / "assay.yaml").write_text(CALIBRATED_SPEC.format(method="none"))
    raw = cli_json(capsys, "-C", str(folder), "run")
    (folder / "assay.yaml").write_text(CALIBRATED_SPEC.format(method=method))
    summary = cli_json(capsys, "-C", str(folder), "run")
    with Project.open(folder, settings=Settings()) as project:
        run = project.metadata.get_run(summary["run_id"])
        calibration = json.loads(project.artifacts.get_bytes(run.artifacts["calibrator"]))
        manifest = json.loads(project.artifacts.get_bytes(run.artifacts["split"]))
        evidence = json.loads(project.artifacts.get_bytes(run.artifacts["evaluation"]))["calibration"]
    held = set(calibration["row_indices"])
    assert held <= set(manifest["splits"]["train"])  # carved from training rows only
    assert not held & (set(manifest["splits"]["test"]) | set(manifest["splits"]["validation"]))
    assert calibration["ece_after"] < calibration["ece_before"] / 2
    assert summary["metrics"]["test"]["ece"] < raw["metrics"]["test"]["ece"] / 2  # and on the untouched test rows
    assert evidence["calibrator"]["method"] == method and evidence["calibrator"]["ece_before"] == calibration["ece_before"]
    # the registered model answers calibrated probabilities, and reproduces exactly
    assert cli(capsys, "-C", str(folder), "reproduce", "loans:2")[0] == 0
    again = cli_json(capsys, "-C", str(folder), "evaluate", "loans:2")
    assert again["metrics"]["test"]["ece"] == pytest.approx(summary["metrics"]["test"]["ece"])


FAIR_SPEC = """\
version: 1
project: loans
seed: 11
data:
  source: loans.csv
  target: defaulted
  sensitive: [group]
split:
  strategy: stratified
model:
  name: loans
  estimator: sklearn.linear_model.LogisticRegression
  params: {{max_iter: 500}}
{inputs}evaluation:
  confidence: {{resamples: 100}}
  gates:
    - {{metric: demographic_parity_ratio, column: group, min: {ratio}}}
"""


def _grouped(rows: int = 3000, seed: int = 8) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], rows)
    signal = rng.normal(size=rows) + np.where(group == "a", 0.8, -0.8)  # the groups differ in the signal itself
    defaulted = (rng.random(rows) < 1 / (1 + np.exp(-(2.0 * signal)))).astype(int)
    return pl.DataFrame({"signal": signal, "group": group, "defaulted": defaulted})


def test_sensitive_columns_are_judged_never_used_unless_a_reason_is_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "loans"
    folder.mkdir()
    _grouped().write_csv(folder / "loans.csv")
    (folder / "assay.yaml").write_text(FAIR_SPEC.format(inputs="", ratio=0.95))
    code, _, err = cli(capsys, "-C", str(folder), "run")  # selection rates differ a lot between a and b
    assert code == 11 and "demographic_parity_ratio[group] >= 0.95" in err
    with Project.open(folder, settings=Settings()) as project:
        first = project.metadata.get_model("loans", 1)
        fairness = json.loads(project.artifacts.get_bytes(project.metadata.get_run(first.run_id).artifacts["evaluation"]))["fairness"]
    assert "group" not in [i["name"] for i in first.signature["inputs"]]  # judged on, never an input
    assert {g["group"] for g in fairness["group"]["groups"]} == {"a", "b"}
    assert fairness["group"]["demographic_parity_ratio"] < 0.95
    reason = "the product serves two regions with different pricing, approved by the risk committee"
    (folder / "assay.yaml").write_text(FAIR_SPEC.format(
        inputs=f"  features:\n    sensitive_inputs: {{group: \"{reason}\"}}\n", ratio=0.0))
    summary = cli_json(capsys, "-C", str(folder), "run")
    with Project.open(folder, settings=Settings()) as project:
        second = project.resolve_model(summary["model"])
        entries = [e for e in project.metadata.list_audit(subject=second.ref) if e.action == "model.sensitive_inputs"]
        card = json.loads(project.artifacts.get_bytes(project.metadata.get_run(second.run_id).artifacts["card.json"]))
    assert "group" in [i["name"] for i in second.signature["inputs"]]
    assert entries and entries[0].details["columns"] == {"group": reason}
    assert card["lineage"]["sensitive_inputs"] == {"group": reason}
    (folder / "assay.yaml").write_text(FAIR_SPEC.format(inputs="  features:\n    sensitive_inputs: {signal: \"because we want to\"}\n", ratio=0.0))
    code, _, err = cli(capsys, "-C", str(folder), "spec", "check")
    assert code == 3 and "sensitive_inputs" in err and "not in data.sensitive" in err


def test_every_candidate_is_compared_with_production_even_without_a_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _project(tmp_path)
    first = cli_json(capsys, "-C", str(folder), "run")
    assert first["comparisons"] == {}  # nothing holds production yet
    approve_as_reviewer(folder, "loans:1")
    assert cli(capsys, "-C", str(folder), "models", "alias", "loans:1", "production")[0] == 0
    _project(tmp_path, features="[noise]")
    second = cli_json(capsys, "-C", str(folder), "run")  # no gates: registered, but the evidence is there
    with Project.open(folder, settings=Settings()) as project:
        metrics = project.metadata.get_run(second["run_id"]).metrics
    comparison = metrics["comparisons"]["production"]
    assert second["comparisons"]["production"]["verdict"] == "worse"
    assert comparison["verdict"] == "worse" and comparison["metric"] == "roc_auc" and second["model_status"] == "candidate"
