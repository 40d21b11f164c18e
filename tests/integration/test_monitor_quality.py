"""`assay labels ingest` and `assay monitor quality` end to end on the demo project, with a prediction
log written by the server's own PredictionLog writer.

What a user relies on: the numbers per window are the metric on exactly the labelled predictions
made in that window (checked against scikit-learn); labels join by request id or by entity and time,
and late or unknown ones are counted, not joined; the same file twice changes nothing; a bad file
stores nothing and says which rows; the exit code says whether quality dropped below offline.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from assay.monitoring.ingest import label_columns, model_classes
from assay.monitoring.quality import QualityWindow, quality_report, window_metric
from assay.project.demo import run_demo
from assay.project.workspace import Project
from assay.serving.predlog import PredictionLog, PredictionRecord
from tests.integration.cli_runner import cli, cli_json

pytestmark = pytest.mark.slow
MODEL = "credit-default:1"
T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, 00:00 UTC
N = 900  # one prediction every 33 minutes: about 300 per week over three weeks
WEEK = timedelta(days=7)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_demo(tmp_path_factory.mktemp("quality") / "demo", rows=4000).project_dir


@pytest.fixture(scope="module")
def logged() -> tuple[np.ndarray, np.ndarray]:
    """Seeded scores and outcomes: calibrated for two weeks, then unrelated to the score (a drop)."""
    rng = np.random.default_rng(3)
    scores = rng.uniform(0.02, 0.98, N)
    outcomes = (rng.uniform(size=N) < scores).astype(int)
    outcomes[600:] = rng.integers(0, 2, N - 600)
    return scores, outcomes


def _at(i: int) -> datetime:
    return T0 + timedelta(minutes=33 * i)


@pytest.fixture
def project(template: Path, tmp_path: Path, logged: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the demo project with the log: request q<i> for customer c<i % 300>, version 1,
    and a shadow copy of every tenth request by version 2 (which must not count for version 1)."""
    folder = tmp_path / "project"
    shutil.copytree(template, folder)
    scores, _ = logged
    log = PredictionLog(folder / ".assay" / "predictions" / "credit-default", columns=[("amount", "float")])
    for i in range(N):
        for version, route in ((1, "production"), (2, "shadow")) if i % 10 == 0 else ((1, "production"),):
            score = float(scores[i]) if version == 1 else 0.5
            log.append(PredictionRecord(
                request_id=f"q{i}", at=_at(i), model_name="credit-default", model_version=version, route=route,
                rows=[{"amount": 100.0 + i}], outputs=[[1 - score, score]], latency_ms=2.0, entity_ids=[f"c{i % 300}"],
            ))
    log.close()
    monkeypatch.chdir(folder)
    return folder


def _labels_file(path: Path, outcomes: np.ndarray, indices: range | list[int], **extra: list[object]) -> Path:
    frame = pl.DataFrame({"request_id": [f"q{i}" for i in indices], "defaulted": [int(outcomes[i]) for i in indices],
                          **extra})
    if path.suffix == ".csv":
        frame.write_csv(path)
    else:
        frame.write_parquet(path)
    return path


def _expected(scores: np.ndarray, outcomes: np.ndarray, lower: datetime, upper: datetime) -> tuple[list[int], np.ndarray, np.ndarray]:
    rows = [i for i in range(N) if lower <= _at(i) < upper]
    return rows, outcomes[rows], scores[rows]


def test_windows_match_a_hand_computation_and_a_drop_exits_1(
    project: Path, logged: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    scores, outcomes = logged
    labels = _labels_file(project / "labels.csv", outcomes, range(N))
    summary = cli_json(capsys, "labels", "ingest", str(labels))
    assert (summary["matched"], summary["no_prediction"], summary["too_late"], summary["new"]) == (N, 0, 0, True)

    code, out, err = cli(capsys, "monitor", "quality", "--model", MODEL, "--json")
    assert code == 1, err  # the third week's roc_auc interval lies below the offline value
    report = json.loads(out)
    assert [w["since"] for w in report["windows"]] == [(T0 + k * WEEK).isoformat() for k in range(3)]
    with Project.open(project) as opened:
        offline = opened.resolve_model(MODEL).metrics["roc_auc"]
    for week, window in enumerate(report["windows"]):
        rows, y, p = _expected(scores, outcomes, T0 + week * WEEK, T0 + (week + 1) * WEEK)
        assert (window["n"], window["positives"], window["enough"]) == (len(rows), int(y.sum()), True)
        metrics = {m["metric"]: m for m in window["metrics"]}
        assert metrics["roc_auc"]["value"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert metrics["accuracy"]["value"] == pytest.approx(accuracy_score(y, p >= 0.5), abs=1e-12)
        assert metrics["log_loss"]["value"] == pytest.approx(log_loss(y, p), rel=1e-9)
        assert metrics["roc_auc"]["low"] < metrics["roc_auc"]["value"] < metrics["roc_auc"]["high"]
        assert metrics["roc_auc"]["offline"] == pytest.approx(offline)
        assert metrics["roc_auc"]["dropped"] == (week == 2)

    # The SLO engineer's entry point gives the same numbers for the same window.
    with Project.open(project) as opened:
        got = window_metric(opened, MODEL, "roc_auc", T0 + 2 * WEEK, T0 + 3 * WEEK)
    third = {m["metric"]: m for m in report["windows"][2]["metrics"]}["roc_auc"]
    assert got == QualityWindow("roc_auc", third["value"], report["windows"][2]["n"], third["low"], third["high"], True)

    code, out, _ = cli(capsys, "monitor", "quality", "--model", MODEL, "--until", (T0 + 2 * WEEK).isoformat())
    assert code == 0 and "no window shows roc_auc significantly worse" in out


def test_small_windows_say_not_enough_data(project: Path, logged: tuple[np.ndarray, np.ndarray],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _, outcomes = logged
    cli_json(capsys, "labels", "ingest", str(_labels_file(project / "labels.parquet", outcomes, range(0, N, 2))))
    code, out, _ = cli(capsys, "monitor", "quality", "--model", MODEL, "--window", "1d", "--last", "2")
    assert code == 0
    assert out.count("not enough data") == 2  # about 22 labels a day, 200 needed
    with Project.open(project) as opened:
        window = window_metric(opened, MODEL, "roc_auc", T0, T0 + timedelta(days=1))
        assert window == QualityWindow("roc_auc", None, 22, None, None, enough=False)
        report = quality_report(opened, MODEL, window="1d", last=2)
    assert [w.enough for w in report.windows] == [False, False]


def test_the_same_file_twice_adds_nothing_and_a_correction_supersedes(
    project: Path, logged: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    scores, outcomes = logged
    labels = _labels_file(project / "labels.csv", outcomes, range(300))
    first = cli_json(capsys, "labels", "ingest", str(labels))
    again = cli_json(capsys, "labels", "ingest", str(labels))
    assert again["new"] is False and again["stored"] == first["stored"] and again["superseded"] == 0
    assert again["labelled"] == first["labelled"] == 300
    assert len(list((project / ".assay" / "labels" / "credit-default").glob("*.parquet"))) == 1
    with Project.open(project) as opened:
        before = window_metric(opened, MODEL, "accuracy", T0, T0 + WEEK)
        audit = [e for e in opened.metadata.list_audit(subject="credit-default") if e.action == "labels.ingest"]
    assert [e.details["new"] for e in audit] == [True, False]
    assert audit[0].details["sha256"] == first["sha256"] and audit[0].actor

    flipped = _labels_file(project / "fix.csv", 1 - outcomes, range(10))  # corrections of q0..q9
    fix = cli_json(capsys, "labels", "ingest", str(flipped))
    assert (fix["new"], fix["superseded"], fix["labelled"]) == (True, 10, 300)
    with Project.open(project) as opened:
        after = window_metric(opened, MODEL, "accuracy", T0, T0 + WEEK)
    corrected = outcomes[:300].copy()
    corrected[:10] = 1 - corrected[:10]
    assert after.value == pytest.approx(accuracy_score(corrected, scores[:300] >= 0.5))
    assert after.value != before.value


def test_entity_and_time_labels_join_the_last_prediction_before_the_event(
    project: Path, logged: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    scores, outcomes = logged
    # Customer c<k> was scored at q<k>, q<k+300> and q<k+600>; an outcome observed a day after q<k+300>
    # belongs to q<k+300> (not the earlier q<k>, not the later q<k+600>).
    chosen = list(range(300, 600))
    observed = [_at(i) + timedelta(days=1) for i in chosen]
    frame = pl.DataFrame({"customer_id": [f"c{i % 300}" for i in chosen], "observed_at": observed,
                          "defaulted": [int(outcomes[i]) for i in chosen]})
    late = pl.DataFrame({"customer_id": ["c1"], "observed_at": [_at(601) + timedelta(days=40)], "defaulted": [1]})
    unknown = pl.DataFrame({"customer_id": ["nobody"], "observed_at": [_at(5)], "defaulted": [0]})
    pl.concat([frame, late, unknown]).write_parquet(project / "outcomes.parquet")
    summary = cli_json(capsys, "labels", "ingest", "outcomes.parquet", "--key", "entity+time", "--time-column", "observed_at")
    assert (summary["matched"], summary["too_late"], summary["no_prediction"]) == (300, 1, 1)
    # q<k+300> for k in 0..299 were labelled; version 1's other 600 predictions (and the shadow copies) were not.
    assert (summary["labelled"], summary["unlabelled"]) == (300, 600)
    with Project.open(project) as opened:
        got = window_metric(opened, MODEL, "roc_auc", T0, T0 + 4 * WEEK)
    assert got.n == 300
    assert got.value == pytest.approx(roc_auc_score(outcomes[chosen], scores[chosen]), abs=1e-12)


def test_a_bad_labels_file_stores_nothing_and_names_the_rows(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "bad.csv").write_text("request_id,defaulted\nq1,1\nq2,maybe\nq3,\n")
    code, _, err = cli(capsys, "labels", "ingest", "bad.csv")
    assert code == 13
    assert "labels-invalid" in err and "bad.csv" in err and "'maybe'" in err and "row 2" in err and "row 3" in err
    assert not (project / ".assay" / "labels").exists()
    code, _, err = cli(capsys, "monitor", "quality")
    assert code == 13 and "quality-no-labels" in err and "assay labels ingest" in err
    with Project.open(project) as opened:  # a quality SLO before any label: no verdict, not an error
        assert window_metric(opened, MODEL, "roc_auc", T0, T0 + WEEK) == QualityWindow("roc_auc", None, 0, None, None, False)


def test_options_are_checked(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "monitor", "quality", "--window", "weekly")[0] == 2
    assert cli(capsys, "monitor", "quality", "--since", "2026-03-09", "--until", "2026-03-02")[0] == 2
    assert cli(capsys, "monitor", "quality", "--since", "last tuesday")[0] == 2


def test_a_quality_slo_breach_alerts_and_asks_for_retraining(
    project: Path, logged: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    """The loop closed: labels of the third week show the drop; `monitor check` at the end of that
    week finds the quality SLO (AUC >= 0.7 over 7 days) in breach, alerts, and records a retraining
    request for the production model with the quality reason."""
    import json

    from assay.monitoring.alerts import build_sinks
    from assay.monitoring.check import check_slos
    from assay.monitoring.retraining import REQUESTED
    from assay.security.secrets import EnvFileProvider

    scores, outcomes = logged
    spec = project / "assay.yaml"
    spec.write_text(spec.read_text() + """
monitoring:
  slos: [{name: auc, kind: quality, metric: roc_auc, min: 0.7, window: 7d}]
  sinks: [{kind: file, path: alerts.jsonl}]
  retraining: {on_drift_windows: null, max_model_age: null, on_quality_breach: true}
""")
    code, _, err = cli(capsys, "labels", "ingest", str(_labels_file(project / "labels.parquet", outcomes, range(N))))
    assert code == 0, err
    end_of_week_3 = T0 + 3 * WEEK
    rows, truth, predicted = _expected(scores, outcomes, end_of_week_3 - WEEK, end_of_week_3)
    assert roc_auc_score(truth, predicted) < 0.7  # what the SLO must see
    with Project.open(project) as opened:
        loaded, _ = opened.load_spec()
        sinks = build_sinks(loaded.monitoring.sinks, project_root=opened.root, secrets=EnvFileProvider())
        result = check_slos(opened, loaded, sinks, now=end_of_week_3)
        requests = opened.metadata.list_audit(subject=MODEL, action=REQUESTED)
    (auc,) = result.results
    assert auc.firing
    assert result.retraining is not None and [r.kind for r in result.retraining.reasons] == ["quality"]
    assert [e.details["kinds"] for e in requests] == [["quality"]]
    alerts = [json.loads(line) for line in (project / "alerts.jsonl").read_text().splitlines()]
    assert {(a["slo"], a["status"]) for a in alerts} == {("auc", "firing"), ("retraining", "firing")}


def _ingest_in_a_process(project_dir: str, labels: str, done: Any) -> None:
    import os as _os

    from assay.monitoring.ingest import ingest_labels as _ingest

    _os.chdir(project_dir)
    with Project.open(project_dir) as opened:
        done.put(_ingest(opened, labels, key="request_id").new)


def _waiting_on(lock: Path) -> bool:
    """Whether some process is blocked on `lock` (a `->` line for its inode in /proc/locks)."""
    inode = f":{lock.stat().st_ino} "
    return any(line.split(":", 1)[1].lstrip().startswith("->") and inode in line
               for line in Path("/proc/locks").read_text().splitlines())


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="reads Linux's /proc/locks to see the ingest wait")
def test_an_ingest_waits_for_the_store_lock_and_then_finds_the_file_stored(
    project: Path, logged: tuple[np.ndarray, np.ndarray]
) -> None:
    """Two ingests of one file at once store it once: while one holds the store (here the test,
    storing the file itself), the other waits, then finds it stored."""
    import multiprocessing
    import time

    from assay.monitoring.labels import label_store, read_labels_file

    _, outcomes = logged
    labels = _labels_file(project / "labels.parquet", outcomes, range(N))
    store = label_store(project, "credit-default")
    context = multiprocessing.get_context("spawn")
    done = context.Queue()
    with Project.open(project) as opened, store.locked():
        worker = context.Process(target=_ingest_in_a_process, args=(str(project), str(labels), done))
        worker.start()
        for _ in range(1200):  # bounded: 60 s for the process to start and reach the lock
            if _waiting_on(store.folder / ".lock") or not worker.is_alive():
                break
            time.sleep(0.05)
        assert _waiting_on(store.folder / ".lock"), "the ingest did not wait for the store lock"
        spec = opened.load_spec()[0]
        stored = store.add(read_labels_file(labels, key="request_id", columns=label_columns(spec),
                                            task=spec.model.task, classes=model_classes(opened, spec)),
                           at=opened.clock.now(), details={})
    worker.join(timeout=120)
    assert worker.exitcode == 0 and done.get(timeout=5) is False  # it found the file stored
    assert list(store.folder.glob("labels-*.parquet")) == [stored.path]
