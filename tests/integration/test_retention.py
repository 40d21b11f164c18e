"""`assay gc` and `assay erase` on the demo project: real SQLite, real artifact store, real
Parquet files written by the prediction log and the label store.

What a user relies on: a dry run lists exactly what is past its policy and deletes nothing;
--apply deletes exactly that and leaves the rest readable; no policy keeps everything; a snapshot
a registered model trained on survives any policy; erasing an entity removes exactly its rows
(other entities untouched, files still valid Parquet), never writes its id to the audit log,
marks the dataset versions that hold it, and the next training run leaves its rows out.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from assay.data.dataset import read_snapshot, write_snapshot
from assay.monitoring.labels import LabelColumns, LabelFile, label_store
from assay.project.demo import run_demo
from assay.project.pipeline import train_project
from assay.project.workspace import Project
from assay.registry.records import DatasetVersion, ModelStatus
from assay.serving.predlog import (
    PredictionLog,
    PredictionRecord,
    log_files,
    read_prediction_log,
)
from tests.integration.cli_runner import cli

pytestmark = pytest.mark.slow
MODEL = "credit-default"
ERASED = "CUST-000331"  # the demo's most frequent customer (8 applications)
OTHERS = ["CUST-000048", "CUST-000467", "CUST-000002"]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_demo(tmp_path_factory.mktemp("retention") / "demo", rows=2000).project_dir


@pytest.fixture()
def project_dir(demo_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the trained demo (each test changes its state)."""
    copy = tmp_path / "demo"
    shutil.copytree(demo_dir, copy)
    return copy


def _log(project_dir: Path, hours_ago: list[int], entities: list[str], *, now: datetime) -> None:
    """One request per (hour, entity): two rows each, both of that entity."""
    log = PredictionLog(project_dir / ".assay" / "predictions" / MODEL, columns=[("amount", "float")])
    for hours in hours_ago:
        for entity in entities:
            at = now - timedelta(hours=hours)
            log.append(PredictionRecord(
                request_id=f"r-{hours}-{entity}", at=at, model_name=MODEL, model_version=1, route="production",
                rows=[{"amount": 100.0}, {"amount": 200.0}], outputs=[[0.9, 0.1], [0.8, 0.2]],
                latency_ms=1.0, entity_ids=[entity, entity],
            ))
        log.flush()
    log.close()


_Label = tuple[str | None, int | None, str | None]  # request_id, row, entity_id


def _labels(project_dir: Path, *, at: datetime, rows: list[_Label], tag: str) -> Path:
    """A label file in the store: (request_id, row, entity_id) per label."""
    frame = pl.DataFrame(
        {"request_id": [r for r, _, _ in rows], "row": [n for _, n, _ in rows], "entity_id": [e for _, _, e in rows],
         "event_time": [at] * len(rows), "label": ["1"] * len(rows), "position": list(range(len(rows)))},
        schema={"request_id": pl.String, "row": pl.Int32, "entity_id": pl.String,
                "event_time": pl.Datetime("us", "UTC"), "label": pl.String, "position": pl.Int64},
    )
    labels = LabelFile(source=f"{tag}.parquet", sha256=tag * 8, key="request_id", columns=LabelColumns("defaulted"),
                       frame=frame)
    return label_store(project_dir, MODEL).add(labels, at=at, details={}).path


def _dataset(project: Project, frame: pl.DataFrame, *, name: str, created_at: datetime, tag: str) -> DatasetVersion:
    """A dataset version recorded as ingest records one (a real snapshot artifact)."""
    snapshot = write_snapshot(frame, project.scratch_dir)
    info = project.artifacts.put_file(snapshot)
    snapshot.unlink()
    version = DatasetVersion(id=f"ds-{tag}", name=name, source_uri="data/x.csv", content_hash=tag * 4,
                             snapshot_sha256=info.sha256, row_count=frame.height, column_count=frame.width,
                             schema={}, created_at=created_at, created_by="test")
    return project.metadata.add_dataset(version)[0]


def _audit(project_dir: Path, action: str) -> list[dict]:
    with Project.open(project_dir) as project:
        return [{"subject": e.subject, "details": dict(e.details)} for e in project.metadata.list_audit(action=action)]


def _write_retention(project_dir: Path, text: str) -> None:
    spec = project_dir / "assay.yaml"
    spec.write_text(spec.read_text() + "\nretention:\n" + text)


# --- gc ------------------------------------------------------------------------------


def test_gc_without_policies_keeps_everything(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    _log(project_dir, [24 * 400, 1], ["CUST-000001"], now=now)
    _labels(project_dir, at=now - timedelta(days=400), rows=[("r-x", 0, None)], tag="a")
    before = sorted(p for p in (project_dir / ".assay").rglob("*") if p.is_file())

    code, out, err = cli(capsys, "-C", str(project_dir), "gc", "--apply", "--json")

    assert code == 0, err
    result = json.loads(out)
    assert result["declared"] == [] and result["items"] == []
    after = sorted(p for p in (project_dir / ".assay").rglob("*") if p.is_file())
    assert [p for p in before if p not in after] == []
    assert _audit(project_dir, "gc") == []


def test_gc_dry_run_lists_exactly_the_expired_items_and_apply_deletes_exactly_them(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    _log(project_dir, [24 * 100, 24 * 95, 24 * 10, 1], ["CUST-000001", "CUST-000002"], now=now)
    old_labels = _labels(project_dir, at=now - timedelta(days=200), rows=[("r-1", 0, None)] * 3, tag="b")
    new_labels = _labels(project_dir, at=now - timedelta(days=5), rows=[("r-2", 0, None)], tag="c")
    with Project.open(project_dir) as project:
        trained = project.metadata.list_datasets(name="applications")[0]
        rows = read_snapshot(project.artifacts.get_bytes(trained.snapshot_sha256))
        unused = _dataset(project, rows.head(50), name="applications", created_at=now - timedelta(days=500), tag="old")
        quarantine = "applications.quarantine"
        stale_q = _dataset(project, rows.head(3), name=quarantine, created_at=now - timedelta(days=300), tag="q1")
        fresh_q = _dataset(project, rows.head(4), name=quarantine, created_at=now - timedelta(days=1), tag="q2")
    # keep_last 1 keeps the newest version (the one the model trained on); max_age selects 'old'.
    _write_retention(project_dir, "  prediction_logs: 90d\n  labels: 180d\n  quarantine: 180d\n"
                                  "  snapshots: {keep_last: 1, max_age: 365d}\n")
    all_files = log_files(project_dir / ".assay" / "predictions" / MODEL)
    expired_hours = {f"date={(now - timedelta(days=d)):%Y-%m-%d}" for d in (100, 95)}

    code, out, err = cli(capsys, "-C", str(project_dir), "gc", "--json")

    assert code == 1, err  # a dry run that found things to delete
    plan = json.loads(out)
    by_policy: dict[str, set[str]] = {}
    for item in plan["items"]:
        by_policy.setdefault(item["policy"], set()).add(item["target"])
    assert {Path(t).parent.name for t in by_policy["prediction_logs"]} == expired_hours
    assert plan["totals"]["prediction_logs"]["rows"] == 2 * 2 * 2  # 2 hours x 2 entities x 2 rows
    assert by_policy["labels"] == {str(old_labels)}
    assert plan["totals"]["labels"]["rows"] == 3
    assert by_policy["snapshots"] == {unused.snapshot_sha256}
    assert by_policy["quarantine"] == {stale_q.snapshot_sha256}
    assert log_files(project_dir / ".assay" / "predictions" / MODEL) == all_files  # nothing deleted
    assert old_labels.exists()
    with Project.open(project_dir) as project:
        assert project.artifacts.exists(unused.snapshot_sha256) and project.artifacts.exists(stale_q.snapshot_sha256)

    code, out, err = cli(capsys, "-C", str(project_dir), "gc", "--apply", "--json")

    assert code == 0, err
    left = log_files(project_dir / ".assay" / "predictions" / MODEL)
    assert sorted(left) == sorted(p for p in all_files if p.parents[1].name not in expired_hours)
    assert read_prediction_log(project_dir / ".assay" / "predictions" / MODEL).height == 2 * 2 * 2  # the rest reads
    assert not old_labels.exists() and new_labels.exists()
    assert label_store(project_dir, MODEL).read().height == 1
    with Project.open(project_dir) as project:
        assert not project.artifacts.exists(unused.snapshot_sha256)
        assert not project.artifacts.exists(stale_q.snapshot_sha256)
        assert project.artifacts.exists(fresh_q.snapshot_sha256)
        assert project.artifacts.exists(trained.snapshot_sha256)  # the model's: kept
        assert project.artifacts.verify() == []
    entries = _audit(project_dir, "gc")
    assert len(entries) == 1
    assert entries[0]["details"]["totals"]["prediction_logs"]["items"] == 2
    code, out, _ = cli(capsys, "-C", str(project_dir), "gc", "--json")
    assert code == 0 and json.loads(out)["items"] == []  # nothing left past its policy


def test_gc_never_deletes_the_snapshot_a_registered_model_trained_on(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_retention(project_dir, "  snapshots: {max_age: 1s}\n")
    with Project.open(project_dir) as project:
        trained = project.metadata.list_datasets(name="applications")[0]

    code, out, err = cli(capsys, "-C", str(project_dir), "gc", "--apply", "--json")

    assert code == 0, err
    plan = json.loads(out)
    assert plan["items"] == [] and plan["protected_snapshots"] == [trained.snapshot_sha256]
    code, out, err = cli(capsys, "-C", str(project_dir), "reproduce", f"{MODEL}:1", "--json")
    assert code == 0, err + out


def test_an_archived_models_snapshot_goes_only_when_the_policy_says_so(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Project.open(project_dir) as project:
        trained = project.metadata.list_datasets(name="applications")[0]
        project.metadata.set_model_status(MODEL, 1, ModelStatus.ARCHIVED, actor="test", reason="replaced",
                                          at=datetime.now(UTC))
    _write_retention(project_dir, "  snapshots: {max_age: 1s}\n")
    code, out, err = cli(capsys, "-C", str(project_dir), "gc", "--apply", "--json")
    assert code == 0, err
    assert json.loads(out)["protected_snapshots"] == [trained.snapshot_sha256]

    spec = project_dir / "assay.yaml"
    spec.write_text(spec.read_text().replace("{max_age: 1s}", "{max_age: 1s, include_archived_models: true}"))
    code, out, err = cli(capsys, "-C", str(project_dir), "gc", "--apply", "--json")

    assert code == 0, err
    assert [i["target"] for i in json.loads(out)["items"]] == [trained.snapshot_sha256]
    with Project.open(project_dir) as project:
        assert not project.artifacts.exists(trained.snapshot_sha256)
        assert project.metadata.get_dataset(trained.id).snapshot_sha256 == trained.snapshot_sha256  # record kept


# --- erase ---------------------------------------------------------------------------


def _rows_of(frame: pl.DataFrame, column: str, entity: str) -> int:
    return frame.filter(pl.col(column) == entity).height


def test_erase_removes_exactly_the_entity_and_the_next_run_leaves_it_out(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    log_root = project_dir / ".assay" / "predictions" / MODEL
    _log(project_dir, [30, 2], [ERASED, *OTHERS], now=now)
    # Labels keyed by entity, and keyed by a logged request row of the entity; others' labels stay.
    labels = _labels(project_dir, at=now, tag="d", rows=[
        (None, None, ERASED), (f"r-2-{ERASED}", 1, None), (None, None, OTHERS[0]), (f"r-2-{OTHERS[1]}", 0, None)])
    with Project.open(project_dir) as project:
        trained = project.metadata.list_datasets(name="applications")[0]
        rows = read_snapshot(project.artifacts.get_bytes(trained.snapshot_sha256))
        quarantine = _dataset(project, rows.filter(pl.col("customer_id").is_in([ERASED, OTHERS[0]])),
                              name="applications.quarantine", created_at=now, tag="q3")
    in_snapshot = _rows_of(rows, "customer_id", ERASED)
    assert in_snapshot == 8
    log_before = read_prediction_log(log_root)

    code, out, err = cli(capsys, "-C", str(project_dir), "erase", "--entity", ERASED, "--dry-run", "--json")

    assert code == 1, err  # found rows, changed nothing
    dry = json.loads(out)
    assert dry["prediction_log"]["rows"] == 4 and dry["labels"]["rows"] == 2 and dry["quarantine"]["rows"] == 8
    assert dry["entity_sha256"] is None  # no salt before the first erasure: no hash to show
    assert read_prediction_log(log_root).equals(log_before)
    assert _audit(project_dir, "erase") == []

    code, out, err = cli(capsys, "-C", str(project_dir), "erase", "--entity", ERASED, "--json")

    assert code == 0, err
    result = json.loads(out)
    after = read_prediction_log(log_root)  # every file still valid Parquet
    for path in log_files(log_root):
        pq.read_table(path)
    assert _rows_of(after, "entity_id", ERASED) == 0
    assert after.height == log_before.height - 4
    assert after.equals(log_before.filter(pl.col("entity_id") != ERASED))  # others untouched, same order
    stored = pl.read_parquet(labels)
    assert stored.height == 2 and set(stored["entity_id"].drop_nulls()) == {OTHERS[0]}
    assert stored["request_id"].drop_nulls().to_list() == [f"r-2-{OTHERS[1]}"]
    assert pq.read_schema(labels).metadata and label_store(project_dir, MODEL).metadata(labels)["source"] == "d.parquet"
    assert result["dataset_versions"] == {trained.id: in_snapshot}
    replacement = result["quarantine"]["versions"][quarantine.id]["replaced_by"]
    with Project.open(project_dir) as project:
        new_q = project.metadata.get_dataset(replacement)
        kept = read_snapshot(project.artifacts.get_bytes(new_q.snapshot_sha256))
        assert _rows_of(kept, "customer_id", ERASED) == 0 and _rows_of(kept, "customer_id", OTHERS[0]) > 0
        assert not project.artifacts.exists(quarantine.snapshot_sha256)
    entries = _audit(project_dir, "erase")
    assert len(entries) == 1
    assert ERASED not in json.dumps(entries) and ERASED.lower() not in json.dumps(entries).lower()
    details = entries[0]["details"]
    assert details["prediction_log"]["rows"] == 4 and details["dataset_versions"] == {trained.id: in_snapshot}

    with Project.open(project_dir) as project:
        run = train_project(project)
        used = read_snapshot(project.artifacts.get_bytes(run.dataset.snapshot_sha256))
    assert run.run.params["erasure"]["excluded_rows"] == in_snapshot
    assert run.run.params["erasure"]["source_dataset_version"] == trained.id
    assert run.run.dataset_version_id == run.dataset.id != trained.id
    assert _rows_of(used, "customer_id", ERASED) == 0
    assert used.height == rows.height - in_snapshot
    assert sum(run.split_sizes.values()) == rows.height - in_snapshot

    code, out, err = cli(capsys, "-C", str(project_dir), "reproduce", f"{MODEL}:{run.model.version}", "--json")
    assert code == 0, err + out


def test_erase_of_an_unknown_entity_changes_nothing(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    _log(project_dir, [2], OTHERS, now=now)
    files = {p: p.read_bytes() for p in log_files(project_dir / ".assay" / "predictions" / MODEL)}

    code, out, err = cli(capsys, "-C", str(project_dir), "erase", "--entity", "CUST-999999", "--dry-run", "--json")
    assert code == 0, err
    assert json.loads(out)["dataset_versions"] == {}
    code, out, err = cli(capsys, "-C", str(project_dir), "erase", "--entity", "CUST-999999")
    assert code == 0, err
    assert {p: p.read_bytes() for p in files} == files


def test_erase_needs_an_entity_column(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = project_dir / "assay.yaml"
    spec.write_text(spec.read_text().replace("  entity: customer_id            # repeat customers\n", ""))

    code, _, err = cli(capsys, "-C", str(project_dir), "erase", "--entity", ERASED)

    assert code == 13
    assert "erase-invalid" in err or "data.entity" in err
    assert _audit(project_dir, "erase") == []
