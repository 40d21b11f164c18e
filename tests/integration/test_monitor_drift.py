"""`assay monitor drift` end to end on the demo project: the reference profile a training run
stores, drift of files and of a prediction log written by the real PredictionLog, the HTML report,
and models trained before reference profiles existed."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay.cli.main import run
from assay.leakage.split import SplitManifest
from assay.project.calibrated import load_registered
from assay.project.demo import run_demo
from assay.project.reference import REFERENCE_ROLE, ReferenceProfile, load_reference, recompute_reference
from assay.project.reproduce import reproduce
from assay.project.workspace import Project
from assay.serving.predlog import PredictionLog, PredictionRecord
from assay.training.signature import to_model_frame
from assay.training.trainer import predictions_from_bytes

MODEL = "credit-default:1"
DAY1 = datetime(2026, 3, 1, tzinfo=UTC)
SVG_NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_demo(tmp_path_factory.mktemp("drift") / "demo", rows=5000).project_dir


@pytest.fixture(scope="module")
def rows(demo: Path) -> pl.DataFrame:
    return pl.read_csv(demo / "data" / "applications.csv", infer_schema_length=None, try_parse_dates=True)


def _shifted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col("debt_to_income") * 1.6,
        pl.when(pl.col("region") == "east").then(pl.lit("offshore")).otherwise(pl.col("region")).alias("region"),
    )


def _cli(demo: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = run(["-C", str(demo), "monitor", "drift", *args])
    return code, capsys.readouterr().out


def _self_contained(page: str) -> None:
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) <= SVG_NAMESPACES
    lowered = page.lower()
    assert "<script" not in lowered and "<link" not in lowered and "@import" not in page
    assert not re.search(r"url\((?!#)", page)


def test_training_stores_a_deterministic_reference_profile_of_training_rows_and_scores(demo: Path) -> None:
    with Project.open(demo) as project:
        model = project.resolve_model(MODEL)
        run_record = project.metadata.get_run(model.run_id)
        stored = project.artifacts.get_bytes(run_record.artifacts[REFERENCE_ROLE])
        reference = ReferenceProfile.from_bytes(stored)
        inputs = [c["name"] for c in model.signature["inputs"]]
        assert list(reference.features.columns) == inputs
        manifest = SplitManifest.from_json_bytes(project.artifacts.get_bytes(run_record.artifacts["split"]))
        assert reference.features.row_count == len(manifest.indices["train"])
        validation = predictions_from_bytes(project.artifacts.get_bytes(run_record.artifacts["predictions.validation"]))
        assert reference.score_split == "validation" and reference.score_kind == "positive_probability"
        assert reference.scores is not None and reference.scores.row_count == len(validation)
        # Rebuilt from the records (what a model trained before the role gets): the same bytes.
        assert recompute_reference(project, model).to_bytes() == stored
        assert reproduce(project, MODEL).ok


def test_fresh_rows_of_the_training_population_do_not_drift(demo: Path, rows: pl.DataFrame, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "same.parquet"
    rows.write_parquet(path)
    code, out = _cli(demo, capsys, "--data", str(path), "--json")
    document = json.loads(out)
    assert code == 0, document
    assert document["verdict"] == "no drift" and document["drifted"] == []
    assert document["model"] == MODEL
    assert document["prediction"]["name"] == "prediction"  # scored by the model itself: no score column


def test_a_shifted_csv_drifts_on_the_shifted_features_and_writes_a_self_contained_page(
    demo: Path, rows: pl.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shifted.csv"
    _shifted(rows).write_csv(path)
    page = tmp_path / "report" / "drift.html"
    code, out = _cli(demo, capsys, "--data", str(path), "--html", str(page))
    assert code == 1
    assert "DRIFT" in out and "debt_to_income" in out and "region" in out
    html = page.read_text(encoding="utf-8")
    _self_contained(html)
    assert html.count("<svg") >= 10 and "debt_to_income" in html
    code, out = _cli(demo, capsys, "--data", str(path), "--json")
    document = json.loads(out)
    assert {"debt_to_income", "region"} <= set(document["drifted"])
    assert set(document["drifted"]) - {"debt_to_income", "region", "prediction"} == set()
    region = next(f for f in document["features"] if f["name"] == "region")
    assert region["statistics"]["unseen_share"] > 0.1


def _write_log(demo: Path, rows: pl.DataFrame) -> None:
    """Two days of traffic through the real PredictionLog: day one as trained, day two shifted."""
    with Project.open(demo) as project:
        model = project.resolve_model(MODEL)
        loaded = load_registered(project, model)
    inputs = model.signature["inputs"]
    log = PredictionLog(demo / ".assay" / "predictions" / model.name,
                        columns=[(c["name"], c["type"]) for c in inputs])
    half = rows.height // 2
    for day, part in enumerate((rows[:half], _shifted(rows[half:]))):
        outputs = np.asarray(loaded.predict(to_model_frame(part, model.signature)))
        records = part.select([c["name"] for c in inputs]).with_columns(pl.col(pl.Date).cast(pl.String)).to_dicts()
        for start in range(0, len(records), 25):
            at = DAY1 + timedelta(days=day, minutes=start * 24 * 60 // len(records))
            log.append(PredictionRecord(
                request_id=f"r{day}-{start}", at=at, model_name=model.name, model_version=model.version,
                route="production", rows=records[start:start + 25],
                outputs=[list(map(float, o)) for o in outputs[start:start + 25]], latency_ms=3.0,
            ))
    log.close()


def test_the_prediction_log_drifts_on_the_shifted_day_only_with_a_timeline(
    demo: Path, rows: pl.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_log(demo, rows)
    day2 = (DAY1 + timedelta(days=1)).isoformat()
    code, out = _cli(demo, capsys, "--since", DAY1.isoformat(), "--until", day2, "--json")
    first = json.loads(out)
    assert code == 0 and first["verdict"] == "no drift", first["drifted"]
    assert first["rows"] == rows.height // 2
    code, out = _cli(demo, capsys, "--since", day2, "--window", "1d", "--json")
    assert code == 2  # --since with --window: --window ends at --until or now, so they do not mix
    code, out = _cli(demo, capsys, "--since", day2, "--until", (DAY1 + timedelta(days=2)).isoformat(), "--json")
    second = json.loads(out)
    assert code == 1
    assert {"debt_to_income", "region"} <= set(second["drifted"])
    page = tmp_path / "log.html"
    code, out = _cli(demo, capsys, "--since", DAY1.isoformat(), "--until", (DAY1 + timedelta(days=2)).isoformat(),
                     "--json", "--html", str(page))
    both = json.loads(out)
    timeline = both["timeline"]
    assert timeline["bucket"] == "hour" and len(timeline["points"]) == 48
    before = [p["values"]["debt_to_income"] for p in timeline["points"][:24]]
    after = [p["values"]["debt_to_income"] for p in timeline["points"][24:]]
    assert min(after) > max(before)
    html = page.read_text(encoding="utf-8")
    _self_contained(html)
    assert "Over time (per hour)" in html


def test_a_window_with_few_rows_is_not_enough_data(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    start = DAY1 + timedelta(hours=30)
    code, out = _cli(demo, capsys, "--since", start.isoformat(), "--until", (start + timedelta(hours=1)).isoformat())
    assert code == 0
    assert "not enough data" in out


def test_two_files_compare_without_a_model(rows: pl.DataFrame, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    reference, current = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    rows.write_parquet(reference)
    _shifted(rows).write_parquet(current)
    capsys.readouterr()
    code = run(["-C", str(tmp_path), "monitor", "drift", "--reference", str(reference), "--data", str(current), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1 and document["model"] is None
    assert {"debt_to_income", "region"} <= set(document["drifted"])


def test_a_model_trained_before_reference_profiles_gets_one_recomputed(
    demo: Path, rows: pl.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old"
    shutil.copytree(demo, old)
    with sqlite3.connect(old / ".assay" / "assay.db") as db:  # the run as it was recorded before the role existed
        for run_id, artifacts in db.execute("SELECT id, artifacts FROM runs").fetchall():
            kept = {k: v for k, v in json.loads(artifacts).items() if k != REFERENCE_ROLE}
            db.execute("UPDATE runs SET artifacts = ? WHERE id = ?", (json.dumps(kept), run_id))
    with Project.open(old) as project:
        model = project.resolve_model(MODEL)
        recomputed = load_reference(project, model)
        assert recomputed.origin == "recomputed"
    path = tmp_path / "shifted.parquet"
    _shifted(rows).write_parquet(path)
    code, out = _cli(old, capsys, "--data", str(path), "--json")
    document = json.loads(out)
    assert code == 1
    assert any("recomputed" in note for note in document["notes"])
    assert "recomputed" in document["reference"]


def test_a_batch_scoring_job_is_judged_with_its_own_scores(
    demo: Path, rows: pl.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--scoring-output`: the rows a finished `assay score` job scored, joined on row_index with the
    scores it wrote (not scored again), against the job's model; a changed input is refused."""
    from assay.batch import LocalEngine, ScoreOptions, score

    inputs = tmp_path / "in" / "shifted.parquet"
    inputs.parent.mkdir()
    shifted = _shifted(rows).drop("defaulted")
    shifted.write_parquet(inputs)
    output = tmp_path / "scores"
    with Project.open(demo) as project:
        summary = score(project, MODEL, input_url=str(inputs), output_url=str(output), engine=LocalEngine(1),
                        options=ScoreOptions(chunk_rows=2_000))
    code, out = _cli(demo, capsys, "--scoring-output", str(output), "--json")
    document = json.loads(out)
    assert code == 1 and document["model"] == MODEL
    assert document["rows"] == summary.scored  # quarantined rows were never scored
    assert {"debt_to_income", "region"} <= set(document["drifted"])
    scores = pl.read_parquet(sorted(output.glob("part-*.parquet"))).get_column("score")
    assert document["prediction"]["current_count"] == scores.len()  # the job's own scores, every one
    shifted.head(100).write_parquet(inputs)  # the input changes after the job
    code, _ = _cli(demo, capsys, "--scoring-output", str(output))
    assert code == 13
