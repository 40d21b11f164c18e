"""The CLI end to end on a real project: demo, records, lineage, reproduce, tampering, errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path

import polars as pl
import pytest

from assay.cli.main import run
from cli_runner import cli, cli_json
from assay.project import Project, Settings
from assay.project.demo import DEMO_ROWS

pytestmark = pytest.mark.slow

ROWS = DEMO_ROWS  # the real demo: `assay reproduce` must pass on exactly what users get


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo") / "project"
    assert run(["demo", "--dir", str(directory), "--json"]) == 0
    return directory


def _copy_project(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    for path in target.rglob("*"):
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return target


def test_demo_prints_a_summary_with_the_evidence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = cli_json(capsys, "demo", "--dir", str(tmp_path / "d"), "--rows", "5000")
    assert isinstance(summary, dict)
    assert summary["model"] == "credit-default:1"
    assert summary["dataset_version"].startswith("ds-")
    assert sum(summary["split_sizes"].values()) == 5000
    assert summary["metrics"]["test"]["roc_auc"] > 0.6
    assert Path(summary["evidence"]["metadata"]).is_file()
    assert Path(summary["evidence"]["artifacts"]).is_dir()


def test_records_and_lineage_agree(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models = cli_json(capsys, "-C", str(demo_dir), "models", "list")
    assert [m["ref"] for m in models] == ["credit-default:1"]
    model = cli_json(capsys, "-C", str(demo_dir), "models", "show", "credit-default:1")
    run_record = cli_json(capsys, "-C", str(demo_dir), "runs", "show", model["run_id"])
    dataset = cli_json(capsys, "-C", str(demo_dir), "datasets", "show", run_record["dataset_version_id"])
    chain = cli_json(capsys, "-C", str(demo_dir), "lineage", "credit-default")
    assert chain["model"]["artifact_sha256"] == model["artifact_sha256"]
    assert chain["run"]["id"] == model["run_id"] == run_record["id"]
    assert chain["dataset"]["id"] == dataset["id"]
    assert dataset["rows"] == ROWS and dataset["checks"]["passed"] is True
    assert run_record["status"] == "succeeded"
    assert run_record["environment"]["packages"]["scikit-learn"]
    assert [i["name"] for i in model["signature"]["inputs"]][:2] == ["amount", "term_months"]
    assert not {"name", "email", "sex", "age", "defaulted"} & {i["name"] for i in model["signature"]["inputs"]}
    assert len(cli_json(capsys, "-C", str(demo_dir), "runs", "list")) == 1
    code, out, _ = cli(capsys, "-C", str(demo_dir), "lineage", "credit-default:1")
    assert code == 0 and "dataset" in out and "run" in out and model["artifact_sha256"] in out


def test_reingesting_identical_data_gives_the_same_version(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = cli_json(capsys, "-C", str(demo_dir), "datasets", "list")
    again = cli_json(capsys, "-C", str(demo_dir), "ingest")
    assert again["created"] is False
    assert again["dataset_version"] == first[0]["id"]
    assert len(cli_json(capsys, "-C", str(demo_dir), "datasets", "list")) == 1


def test_reproduce_rebuilds_identical_predictions_and_bytes(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli_json(capsys, "-C", str(demo_dir), "reproduce", "credit-default:1")
    assert result["ok"] is True
    assert result["predictions_identical"] is True
    assert result["artifact_identical"] is True
    assert result["rows_compared"] > 0
    assert result["differences"] == []


def test_altered_snapshot_fails_reproduce_and_verify(demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project_dir = _copy_project(demo_dir, tmp_path / "copy")
    dataset = cli_json(capsys, "-C", str(project_dir), "datasets", "list")[0]  # type: ignore[index]
    snapshot = next((project_dir / ".assay" / "artifacts" / "sha256").rglob(dataset["snapshot_sha256"]))
    frame = pl.read_parquet(snapshot)
    altered = frame.with_columns(pl.col("debt_to_income") * 1.01)
    altered.write_parquet(snapshot)

    code, out, _ = cli(capsys, "-C", str(project_dir), "reproduce", "credit-default:1", "--json")
    assert code == 1
    result = json.loads(out)
    assert result["ok"] is False
    assert any(d.startswith("data:") and dataset["id"] in d for d in result["differences"])
    assert dataset["source_uri"] == "data/applications.csv"  # recorded relative: the copy finds its own source
    assert result["data_notes"] == []

    code, out, _ = cli(capsys, "-C", str(project_dir), "artifacts", "verify", "--json")
    assert code == 6
    report = json.loads(out)
    assert [p["sha256"] for p in report["problems"]] == [dataset["snapshot_sha256"]]
    assert report["problems"][0]["problem"] == "tampered"
    assert report["problems"][0]["used_by"] == [f"dataset {dataset['id']} snapshot"]

    code, out, err = cli(capsys, "-C", str(project_dir), "reproduce", "credit-default:1")
    assert code == 1 and "not reproduced" in out and "data:" in out


def test_clean_project_verifies(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = cli_json(capsys, "-C", str(demo_dir), "artifacts", "verify")
    assert report["ok"] is True and report["checked"] >= 6


def test_alias_moves_are_recorded_with_actor_and_reason(
    demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project_dir = _copy_project(demo_dir, tmp_path / "alias")
    monkeypatch.setenv("ASSAY_ACTOR", "alice")
    moved = cli_json(capsys, "-C", str(project_dir), "models", "alias", "credit-default:1", "staging", "--reason", "first release")
    assert moved["version"] == 1 and moved["previous_version"] is None and moved["actor"] == "alice"
    shown = cli_json(capsys, "-C", str(project_dir), "models", "show", "credit-default@staging")
    assert shown["aliases"] == ["production", "staging"]  # the demo promoted it to production
    code, _, _ = cli(capsys, "-C", str(project_dir), "models", "unalias", "credit-default", "staging", "--reason", "rollback drill")
    assert code == 0
    with Project.open(project_dir, settings=Settings(actor="alice")) as project:
        entries = [e for e in project.metadata.list_audit() if e.action == "alias.moved"]
        assert [(e.subject, e.details.get("reason")) for e in entries][0] == (
            "credit-default@production", "assay demo: the first model that passed its gates, approved by a reviewer")
        assert [(e.actor, e.details.get("reason")) for e in entries[1:]] == [("alice", "first release"), ("alice", "rollback drill")]
        assert project.metadata.get_alias("credit-default", "staging") is None
    code, _, err = cli(capsys, "-C", str(project_dir), "models", "show", "credit-default@staging")
    assert code == 5 and "alias" in err


def test_init_then_run_on_your_own_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _own_data(400)
    source = tmp_path / "raw" / "churn.csv"
    source.parent.mkdir()
    data.write_csv(source)
    project_dir = tmp_path / "churn"
    code, out, err = cli(capsys, "-C", str(project_dir), "init", "--data", str(source), "--target", "churned", "--time", "signup_date", "--entity", "account")
    assert code == 0, err
    text = (project_dir / "assay.yaml").read_text()
    assert "strategy: time" in text and "pii: [email]" in text
    assert cli(capsys, "-C", str(project_dir), "spec", "check")[0] == 0
    code, _, err = cli(capsys, "-C", str(project_dir), "init", "--data", str(source), "--target", "churned")
    assert code == 3 and "already exists" in err
    code, _, err = cli(capsys, "-C", str(project_dir), "run")
    assert code == 10 and "entity_overlap" in err  # accounts recur over time: a person must decide
    spec_path = project_dir / "assay.yaml"
    spec_path.write_text(spec_path.read_text().replace("entity_may_cross: false", "entity_may_cross: true"))
    summary = cli_json(capsys, "-C", str(project_dir), "run")
    assert summary["model"] == "churn-model:1"
    assert "email" not in summary["metrics"]
    second = cli_json(capsys, "-C", str(project_dir), "train", "--dataset", summary["dataset_version"])
    assert second["model"] == "churn-model:2" and second["dataset_version"] == summary["dataset_version"]


def test_parquet_source_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "data.parquet"
    _own_data(300).write_parquet(source)
    project_dir = tmp_path / "pq"
    assert cli(capsys, "-C", str(project_dir), "init", "--data", str(source), "--target", "churned")[0] == 0
    summary = cli_json(capsys, "-C", str(project_dir), "run")
    assert summary["split_sizes"]["test"] > 0


def _own_data(n: int, seed: int = 3) -> pl.DataFrame:
    import numpy as np

    rng = np.random.default_rng(seed)
    usage = rng.gamma(2.0, 10.0, n)
    plan = rng.choice(["basic", "pro", "team"], n)
    churn = (rng.random(n) < 1 / (1 + np.exp(0.08 * usage - 1))).astype(int)
    return pl.DataFrame(
        {
            "account": [f"A{i % (n // 2)}" for i in range(n)],
            "signup_date": pl.date_range(pl.date(2024, 1, 1), pl.date(2024, 1, 1) + pl.duration(days=n - 1), eager=True),
            "usage_hours": usage.round(2),
            "plan": plan,
            "email": [f"user{i}@example.com" for i in range(n)],
            "churned": churn,
        }
    )


# --- errors a user meets ------------------------------------------------------------------


def _spec(tmp_path: Path, body: str) -> Path:
    project_dir = tmp_path / "p"
    project_dir.mkdir(exist_ok=True)
    (project_dir / "assay.yaml").write_text(body)
    return project_dir


MINIMAL = """\
project: bad
data:
  source: {source}
  target: {target}
model:
  name: bad-model
  estimator: sklearn.linear_model.LogisticRegression
"""


def test_malformed_csv_names_the_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.csv").write_text("a,b,y\n1,2,0\n3,4,1\n5,6,7,8\n9,10,1\n")
    project_dir = _spec(tmp_path, MINIMAL.format(source="../bad.csv", target="y"))
    code, _, err = cli(capsys, "-C", str(project_dir), "run")
    assert code == 4
    assert "bad.csv" in err and "line 4" in err and "hint:" in err
    assert "Traceback" not in err


def test_missing_target_column_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.csv").write_text("a,b,y\n1,2,0\n3,4,1\n")
    project_dir = _spec(tmp_path, MINIMAL.format(source="../ok.csv", target="label"))
    code, _, err = cli(capsys, "-C", str(project_dir), "ingest")
    assert code == 4
    assert "'label'" in err and "a, b, y" in err


def test_empty_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.csv").write_text("")
    project_dir = _spec(tmp_path, MINIMAL.format(source="../empty.csv", target="y"))
    code, _, err = cli(capsys, "-C", str(project_dir), "validate")
    assert code == 4 and "empty" in err and "empty.csv" in err


def test_spec_errors_name_the_line_and_debug_shows_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project_dir = _spec(tmp_path, MINIMAL.format(source="x.csv", target="y") + "split:\n  strategy: weekly\n")
    code, _, err = cli(capsys, "-C", str(project_dir), "spec", "check")
    assert code == 3 and "assay.yaml:9: split.strategy" in err and "Traceback" not in err
    code, _, err = cli(capsys, "--debug", "-C", str(project_dir), "spec", "check")
    assert code == 3 and "Traceback" in err


def test_unknown_model_exits_not_found(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-C", str(demo_dir), "models", "show", "credit-default:99")
    assert code == 5 and "credit-default" in err and "hint:" in err


def test_no_spec_here_says_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-C", str(tmp_path), "run")
    assert code == 3 and "assay init" in err


@pytest.mark.postgres
def test_the_pipeline_runs_on_postgresql(
    pg_schema_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_DB_URL", pg_schema_url)
    source = tmp_path / "d.csv"
    _own_data(300).write_csv(source)
    project_dir = tmp_path / "pg"
    assert cli(capsys, "-C", str(project_dir), "init", "--data", str(source), "--target", "churned")[0] == 0
    summary = cli_json(capsys, "-C", str(project_dir), "run")
    assert not (project_dir / ".assay" / "assay.db").exists()
    listed = cli_json(capsys, "-C", str(project_dir), "models", "list")
    assert [m["ref"] for m in listed] == [summary["model"]]
    assert cli_json(capsys, "-C", str(project_dir), "reproduce", summary["model"])["ok"] is True
    assert os.environ["ASSAY_DB_URL"] == pg_schema_url


def test_altered_model_artifact_fails_reproduce(demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project_dir = _copy_project(demo_dir, tmp_path / "model-copy")
    model = cli_json(capsys, "-C", str(project_dir), "models", "show", "credit-default:1")
    artifact = next((project_dir / ".assay" / "artifacts" / "sha256").rglob(model["artifact_sha256"]))  # type: ignore[index]
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    code, out, _ = cli(capsys, "-C", str(project_dir), "reproduce", "credit-default:1", "--json")
    assert code == 1
    result = json.loads(out)
    assert any(d.startswith("artifact:") and "credit-default:1" in d for d in result["differences"])


def test_declared_pii_never_reaches_the_snapshot(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = cli_json(capsys, "-C", str(demo_dir), "datasets", "list")[0]  # type: ignore[index]
    snapshot = next((demo_dir / ".assay" / "artifacts" / "sha256").rglob(dataset["snapshot_sha256"]))
    stored = pl.read_parquet(snapshot)
    assert "name" not in stored.columns and "email" not in stored.columns
    assert dataset["schema"]["not_stored"] == ["email", "name"]
    assert dataset["columns"] == stored.width == 16
    raw = b"".join(p.read_bytes() for p in (demo_dir / ".assay" / "artifacts" / "sha256").rglob("*") if p.is_file())
    first_email = pl.read_csv(demo_dir / "data" / "applications.csv", n_rows=1)["email"][0]
    assert first_email.encode() not in raw


def test_demo_run_records_its_leakage_check(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_record = cli_json(capsys, "-C", str(demo_dir), "runs", "list")[0]  # type: ignore[index]
    assert "leakage" in run_record["artifacts"]
    assert run_record["params"]["leakage"]["blocking"] == []


def _leaky_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    frame = _own_data(600).with_columns(pl.col("churned").alias("cancel_after_90d"))  # the target, renamed
    source = tmp_path / "leaky.csv"
    frame.write_csv(source)
    project_dir = tmp_path / "leaky"
    assert cli(capsys, "-C", str(project_dir), "init", "--data", str(source), "--target", "churned", "--time", "signup_date")[0] == 0
    return project_dir


def _with_waivers(spec_text: str, waivers: str) -> str:
    empty = re.search(r"^  waivers: \[\].*$", spec_text, flags=re.MULTILINE)
    assert empty is not None, "assay init writes an empty waiver list"
    return spec_text[: empty.start()] + "  waivers:\n" + waivers + spec_text[empty.end() + 1 :]


def test_a_critical_leak_blocks_training_until_waived(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project_dir = _leaky_project(tmp_path, capsys)
    code, _, err = cli(capsys, "-C", str(project_dir), "run")
    assert code == 10
    assert "cancel_after_90d" in err and "waivers:" in err
    failed = cli_json(capsys, "-C", str(project_dir), "runs", "list")[0]  # type: ignore[index]
    assert failed["status"] == "failed" and "leakage" in failed["artifacts"]
    assert cli_json(capsys, "-C", str(project_dir), "models", "list") == []
    kinds = failed["params"]["leakage"]["blocking"]
    assert kinds

    waivers = "".join(
        f"    - kind: {kind}\n      columns: [cancel_after_90d]\n      reason: planted on purpose for this test\n"
        for kind in sorted(set(kinds))
    )
    spec_path = project_dir / "assay.yaml"
    spec_path.write_text(_with_waivers(spec_path.read_text(), waivers))
    monkeypatch.setenv("ASSAY_ACTOR", "carol")
    summary = cli_json(capsys, "-C", str(project_dir), "run")
    assert summary["model"].endswith(":1")
    assert {w["kind"] for w in summary["leakage"]["waived"]} == set(kinds)
    audit = cli_json(capsys, "-C", str(project_dir), "audit", "log", "--subject", summary["run_id"])
    waived = [e for e in audit if e["action"] == "leakage.waived"]
    assert waived and all(e["actor"] == "carol" and e["details"]["reason"] == "planted on purpose for this test" for e in waived)


def test_unknown_waiver_kind_is_a_spec_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project_dir = _leaky_project(tmp_path, capsys)
    spec_path = project_dir / "assay.yaml"
    spec_path.write_text(_with_waivers(spec_path.read_text(), "    - kind: vibes\n      reason: not a real kind at all\n"))
    code, _, err = cli(capsys, "-C", str(project_dir), "run")
    assert code == 3 and "vibes" in err


def _drift_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    source = tmp_path / "batch.csv"
    _own_data(2000, seed=1).write_csv(source)
    project_dir = tmp_path / "drift"
    assert cli(capsys, "-C", str(project_dir), "init", "--data", str(source), "--target", "churned")[0] == 0
    first = cli_json(capsys, "-C", str(project_dir), "ingest")
    assert first["checks"]["drift"]["reference"] is None  # nothing to compare the first batch with
    return project_dir, source


def test_a_shifted_batch_is_flagged_against_the_previous_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project_dir, source = _drift_project(tmp_path, capsys)
    same = _own_data(2000, seed=2)  # a fresh sample of the same distribution: no drift
    same.write_csv(source)
    quiet = cli_json(capsys, "-C", str(project_dir), "ingest")
    assert quiet["created"] is True and quiet["checks"]["drift"]["failed"] == []

    _own_data(2000, seed=4).with_columns(pl.col("usage_hours") * 3).write_csv(source)
    code, _, err = cli(capsys, "-C", str(project_dir), "ingest")
    assert code == 0
    assert "drift.ks on 'usage_hours'" in err  # recorded, and printed as a warning by default
    shifted = cli_json(capsys, "-C", str(project_dir), "datasets", "list")[0]  # type: ignore[index]
    failed = {(r["check"], r["column"]) for r in shifted["checks"]["drift"]["failed"]}
    assert ("drift.ks", "usage_hours") in failed
    assert {column for _, column in failed} == {"usage_hours"}
    assert shifted["checks"]["drift"]["reference"] == quiet["dataset_version"]


def test_drift_can_refuse_the_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project_dir, source = _drift_project(tmp_path, capsys)
    spec_path = project_dir / "assay.yaml"
    spec_path.write_text(spec_path.read_text().replace("  schema:", "  drift: {on_fail: fail}\n  schema:", 1))
    _own_data(2000, seed=4).with_columns(pl.col("usage_hours") * 3).write_csv(source)
    code, _, err = cli(capsys, "-C", str(project_dir), "ingest")
    assert code == 4 and "usage_hours" in err and "data.drift" in err
    assert len(cli_json(capsys, "-C", str(project_dir), "datasets", "list")) == 1  # nothing recorded


def _dirty_project(tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str) -> tuple[Path, int]:
    clean = _own_data(400, seed=5)
    source = tmp_path / "clean.csv"
    clean.write_csv(source)
    project_dir = tmp_path / "dirty"
    assert cli(capsys, "-C", str(project_dir), "init", "--data", str(source), "--target", "churned")[0] == 0
    text = clean.write_csv().splitlines()
    # Lines 3 and 9: negative usage (range); line 7: usage that is not a number (type).
    for position, replacement in ((3, "-5.0"), (7, "lots"), (9, "-1")):
        fields = text[position].split(",")
        fields[2] = replacement
        text[position] = ",".join(fields)
    source.write_text("\n".join(text) + "\n")
    spec_path = project_dir / "assay.yaml"
    if policy:
        spec_path.write_text(spec_path.read_text().replace("  schema:", f"  policy: {policy}\n  schema:", 1))
    return project_dir, clean.height


def test_failing_rows_stop_the_ingest_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project_dir, _ = _dirty_project(tmp_path, capsys, "")
    code, _, err = cli(capsys, "-C", str(project_dir), "ingest")
    assert code == 4 and "usage_hours" in err and "data.policy" in err
    assert "rows 2, 8 (0-based" in err and "rows 6 (0-based" in err  # lines 4, 10 and 8 of the file


def test_quarantine_sets_failing_rows_aside_and_loses_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project_dir, rows = _dirty_project(tmp_path, capsys, "{type: quarantine, range: quarantine}")
    result = cli_json(capsys, "-C", str(project_dir), "ingest")
    quarantine = result["checks"]["quarantine"]
    assert quarantine["rows"] == 3 and result["rows"] == rows - 3
    assert quarantine["by_check"] == {"range:usage_hours": 2, "type:usage_hours": 1}
    versions = {d["id"]: d for d in cli_json(capsys, "-C", str(project_dir), "datasets", "list")}
    held = versions[quarantine["dataset_version"]]
    assert held["name"].endswith(".quarantine") and held["rows"] == 3
    snapshot = next((project_dir / ".assay" / "artifacts" / "sha256").rglob(held["snapshot_sha256"]))
    kept = pl.read_parquet(snapshot)
    assert sorted(kept["usage_hours"].to_list()) == ["-1", "-5.0", "lots"]  # exactly as read
    assert "email" not in kept.columns  # declared PII is never stored, quarantined or not
    assert set(kept["_assay_failed_checks"]) == {"range:usage_hours", "type:usage_hours"}
    summary = cli_json(capsys, "-C", str(project_dir), "train", "--dataset", result["dataset_version"])
    assert sum(summary["split_sizes"].values()) == rows - 3


def test_warn_policy_keeps_every_row_and_records_the_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project_dir, rows = _dirty_project(tmp_path, capsys, "{range: warn, type: warn}")
    result = cli_json(capsys, "-C", str(project_dir), "ingest")
    assert result["rows"] == rows and result["checks"]["quarantine"]["rows"] == 0
    assert {(w["check"], w["column"]) for w in result["checks"]["warned"]} == {("range", "usage_hours"), ("type", "usage_hours")}


def test_leakage_check_in_a_project_checks_the_spec_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project_dir = _leaky_project(tmp_path, capsys)
    code, _, err = cli(capsys, "-C", str(project_dir), "leakage", "check")
    assert code == 5 and "assay ingest" in err  # nothing ingested yet
    cli_json(capsys, "-C", str(project_dir), "ingest")
    code, out, _ = cli(capsys, "-C", str(project_dir), "leakage", "check", "--json")
    assert code == 1
    report = json.loads(out)
    assert {f["kind"] for f in report["blocking"]} >= {"target_copy"}
    assert all("cancel_after_90d" in f["columns"] for f in report["blocking"])


def test_data_infer_prints_a_schema_the_spec_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from assay.spec.model import DataSchema

    source = tmp_path / "own.csv"
    _own_data(200).write_csv(source)
    code, out, _ = cli(capsys, "data", "infer", "--data", str(source), "--unique", "email")
    assert code == 0
    schema = DataSchema.model_validate(yaml.safe_load(out)["schema"])
    assert schema.columns["email"].unique and schema.columns["plan"].allowed == ["basic", "pro", "team"]
    assert schema.columns["signup_date"].type == "date"


def test_pre_split_files_keep_their_split_and_are_checked_for_leakage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _own_data(900, seed=8)
    folder = tmp_path / "presplit"
    (folder / "data").mkdir(parents=True)
    data[:600].write_csv(folder / "data" / "train.csv")
    data[600:750].write_csv(folder / "data" / "valid.csv")
    data[750:].write_csv(folder / "data" / "test.csv")
    (folder / "assay.yaml").write_text(
        "project: presplit\n"
        "data:\n"
        "  sources: {train: data/train.csv, validation: data/valid.csv, test: data/test.csv}\n"
        "  target: churned\n"
        "  entity: account\n"
        "  pii: [email]\n"
        "split:\n  strategy: predefined\n"
        "model:\n  name: presplit-model\n  estimator: sklearn.ensemble.HistGradientBoostingClassifier\n"
        "leakage:\n  entity_may_cross: true\n"
    )
    summary = cli_json(capsys, "-C", str(folder), "run")
    assert summary["split_sizes"] == {"train": 600, "validation": 150, "test": 150}
    model = cli_json(capsys, "-C", str(folder), "models", "show", summary["model"])
    assert "_assay_split" not in {i["name"] for i in model["signature"]["inputs"]}
    assert cli_json(capsys, "-C", str(folder), "reproduce", summary["model"])["ok"] is True

    # A training row copied into the test file is found, as it would be in any split.
    leaked = pl.concat([data[750:], data[:40]])
    leaked.write_csv(folder / "data" / "test.csv")
    cli_json(capsys, "-C", str(folder), "ingest")
    code, out, _ = cli(capsys, "-C", str(folder), "leakage", "check", "--json")
    kinds = {f["kind"] for f in json.loads(out)["findings"]}
    assert "duplicate_rows" in kinds


def test_pre_split_files_must_share_a_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mismatch"
    folder.mkdir()
    _own_data(100).write_csv(folder / "train.csv")
    _own_data(100).drop("plan").write_csv(folder / "test.csv")
    (folder / "assay.yaml").write_text(
        "project: mismatch\ndata:\n  sources: {train: train.csv, test: test.csv}\n  target: churned\n"
        "split:\n  strategy: predefined\nmodel:\n  name: m\n  estimator: sklearn.linear_model.LogisticRegression\n"
    )
    code, _, err = cli(capsys, "-C", str(folder), "validate")
    assert code == 4 and "test.csv" in err and "plan" in err


def test_reusing_one_test_split_across_runs_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "reuse.csv"
    _own_data(300).write_csv(source)
    project_dir = tmp_path / "reuse"
    assert cli(capsys, "-C", str(project_dir), "init", "--data", str(source), "--target", "churned")[0] == 0
    first = cli_json(capsys, "-C", str(project_dir), "run")
    assert first["leakage"]["findings"].get("warning", 0) == 0
    cli_json(capsys, "-C", str(project_dir), "run")
    code, _, err = cli(capsys, "-C", str(project_dir), "run")
    assert code == 0 and "test_split_reuse" in err  # the third run on the same test rows warns
    runs = cli_json(capsys, "-C", str(project_dir), "runs", "list")
    assert runs[0]["params"]["leakage"]["findings"]["warning"] >= 1


def test_a_pre_split_test_file_from_another_population_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _own_data(1200, seed=9)
    folder = tmp_path / "population"
    (folder / "data").mkdir(parents=True)
    data[:900].write_csv(folder / "data" / "train.csv")
    data[900:].with_columns(pl.col("usage_hours") * 4).write_csv(folder / "data" / "test.csv")  # heavy users only
    (folder / "assay.yaml").write_text(
        "project: population\ndata:\n  sources: {train: data/train.csv, test: data/test.csv}\n  target: churned\n  time: signup_date\n"
        "  entity: account\n  pii: [email]\nsplit:\n  strategy: predefined\n  validation_fraction: 0\n"
        "model:\n  name: m\n  estimator: sklearn.linear_model.LogisticRegression\nleakage:\n  entity_may_cross: true\n"
    )
    summary = cli_json(capsys, "-C", str(folder), "run")
    assert summary["leakage"]["findings"].get("warning", 0) >= 1
    code, out, _ = cli(capsys, "-C", str(folder), "leakage", "check", "--json")
    found = [f for f in json.loads(out)["findings"] if f["kind"] == "unrepresentative_test"]
    assert [f["columns"] for f in found] == [["usage_hours"]] and found[0]["severity"] == "warning"


def test_leakage_check_splits_a_single_file_by_column_or_strategy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = _own_data(1000, seed=11).with_columns(pl.col("churned").alias("leak"))
    source = tmp_path / "one.csv"
    frame.with_columns(pl.Series("part", ["train"] * 700 + ["validation"] * 100 + ["test"] * 200)).write_csv(source)
    code, out, _ = cli(capsys, "leakage", "check", "--data", str(source), "--split-column", "part", "--target", "churned", "--json")
    report = json.loads(out)
    assert code == 1 and report["rows"] == {"train": 700, "validation": 100, "test": 200}
    assert "target_copy" in {f["kind"] for f in report["findings"]}

    plain = tmp_path / "plain.csv"
    frame.drop("leak").write_csv(plain)
    code, out, _ = cli(
        capsys, "leakage", "check", "--data", str(plain), "--target", "churned", "--strategy", "time",
        "--time", "signup_date", "--entity", "account", "--entity-may-cross", "--test-fraction", "0.3", "--json",
    )
    report = json.loads(out)
    assert code == 0 and report["rows"]["test"] == 300
    code, _, err = cli(capsys, "leakage", "check", "--data", str(plain), "--train", str(plain), "--target", "churned")
    assert code == 2 and "either --data or --train/--test" in err


def test_validate_a_new_batch_streams_checks_and_drift(demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A new month of applications: incomes doubled (drift), one impossible debt ratio (a check)."""
    batch = pl.read_csv(demo_dir / "data" / "applications.csv", infer_schema_length=0).head(3000)
    shifted = batch.with_columns((pl.col("income").cast(pl.Float64) * 2).cast(pl.String).alias("income"))
    shifted.write_parquet(tmp_path / "drifted.parquet")
    code, out, _ = cli(capsys, "-C", str(demo_dir), "validate", str(tmp_path / "drifted.parquet"), "--json")
    document = json.loads(out)
    assert code == 0 and document["passed"]  # the demo spec only warns on drift (data.drift.on_fail: warn)
    (source,) = document["sources"]
    assert source["row_count"] == 3000 and source["drift"]["reference"].startswith("ds-")
    failed = {(r["check"], r["column"]) for r in source["drift"]["results"] if not r["passed"]}
    assert ("drift.psi", "income") in failed
    assert not any(column == "term_months" for _, column in failed)

    broken = shifted.with_columns(
        pl.when(pl.int_range(pl.len()) == 1234).then(pl.lit("9.5")).otherwise(pl.col("debt_to_income")).alias("debt_to_income")
    )
    broken.write_csv(tmp_path / "broken.csv")
    code, out, _ = cli(capsys, "-C", str(demo_dir), "validate", str(tmp_path / "broken.csv"), "--no-drift")
    assert code == 4
    assert "debt_to_income" in out and "1 value(s) outside [0.0, 5.0]" in out and "validation failed" in out
    code, out, _ = cli(capsys, "-C", str(demo_dir), "validate", str(tmp_path / "broken.csv"), "--json", "--no-drift")
    (source,) = json.loads(out)["sources"]
    (failure,) = [r for r in source["errors"] if r["check"] == "range"]
    assert failure["rows"] == [1234] and source["drift"]["reference"] is None


def test_pre_split_files_stream_into_one_version_with_their_quarantine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Declared schema: both files stream through the checks into one snapshot; a bad row in each
    file is set aside with its split, positions running on across the files."""
    folder = tmp_path / "streamed"
    (folder / "data").mkdir(parents=True)
    train, test = _own_data(300, seed=1), _own_data(100, seed=2)
    train.with_columns(pl.when(pl.int_range(pl.len()) == 10).then(-3.0).otherwise(pl.col("usage_hours")).alias("usage_hours")).write_csv(folder / "data" / "train.csv")
    test.with_columns(pl.when(pl.int_range(pl.len()) == 40).then(-7.0).otherwise(pl.col("usage_hours")).alias("usage_hours")).write_csv(folder / "data" / "test.csv")
    (folder / "assay.yaml").write_text(
        "project: streamed\ndata:\n  sources: {train: data/train.csv, test: data/test.csv}\n  target: churned\n"
        "  pii: [email]\n  policy: {range: quarantine}\n  schema:\n    columns:\n"
        "      account: {type: string}\n      signup_date: {type: date}\n      usage_hours: {type: float, min: 0}\n"
        "      plan: {type: category, allowed: [basic, pro, team]}\n      email: {type: string}\n"
        "      churned: {type: int, nullable: false}\n"
        "split:\n  strategy: predefined\nmodel:\n  name: m\n  estimator: sklearn.linear_model.LogisticRegression\n"
    )
    result = cli_json(capsys, "-C", str(folder), "ingest")
    assert result["rows"] == 398 and result["checks"]["quarantine"]["rows"] == 2
    datasets = {d["id"]: d for d in cli_json(capsys, "-C", str(folder), "datasets", "list")}
    artifacts = folder / ".assay" / "artifacts" / "sha256"
    stored = pl.read_parquet(next(artifacts.rglob(datasets[result["dataset_version"]]["snapshot_sha256"])))
    assert "email" not in stored.columns and stored.get_column("usage_hours").min() >= 0
    assert stored.get_column("_assay_split").value_counts().sort("_assay_split").rows() == [("test", 99), ("train", 299)]
    assert stored.schema["signup_date"] == pl.Date and stored.schema["churned"] == pl.Int64  # typed
    held = pl.read_parquet(next(artifacts.rglob(datasets[result["checks"]["quarantine"]["dataset_version"]]["snapshot_sha256"])))
    assert held.select("_assay_split", "usage_hours").rows() == [("train", "-3.0"), ("test", "-7.0")]
    with Project.open(folder, settings=Settings()) as project:
        version = project.metadata.get_dataset(result["dataset_version"])
        profile = json.loads(project.artifacts.get_bytes(version.profile_sha256))
    assert profile["row_count"] == 398 and "email" not in profile["columns"]
