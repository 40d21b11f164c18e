"""`assay score` end to end on the local engine: real worker processes, real files, real kills.

What a user relies on: every input row ends up scored or quarantined exactly once; the same
command again changes nothing; a crash at any moment (SIGKILL) followed by the same command gives
byte for byte the output of one uninterrupted run; transient I/O failures are retried; a chunk that
keeps failing stops the job with its name, and committed work stays.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest

from assay.batch import (
    ChunkFailedError,
    LocalEngine,
    OutputConflictError,
    RetryPolicy,
    ScoreOptions,
    score,
)
from assay.batch.output import CHUNKS_DIR, MANIFEST_FILE
from assay.project.calibrated import load_registered
from assay.project.demo import run_demo
from assay.project.workspace import Project
from assay.training.signature import to_model_frame
from tests.integration.scoring_support import (
    PLANTED,
    FaultyFileSystem,
    data_files,
    injected_failures,
    make_input,
    output_files,
    run_score,
    start_score,
)

pytestmark = pytest.mark.slow
MODEL = "credit-default:1"
ROWS = 60_000
CHUNK = "6000"  # 10 chunks


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_demo(tmp_path_factory.mktemp("score") / "demo", rows=4000).project_dir


@pytest.fixture(scope="module")
def input_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_input(tmp_path_factory.mktemp("input") / "applications.parquet", rows=ROWS, row_group_rows=4_000)


@pytest.fixture(scope="module")
def reference(project_dir: Path, input_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted run: what every other run of the same job must reproduce."""
    output = tmp_path_factory.mktemp("reference") / "out"
    done = run_score(project_dir, MODEL, input_file, output, "--chunk-rows", CHUNK, "--json")
    assert done.returncode == 0, done.stderr
    return output


def _manifest(output: Path) -> dict:
    return json.loads((output / MANIFEST_FILE).read_text())


def _same_output(output: Path, reference: Path) -> None:
    """Byte for byte the reference's rows, commit records and manifest (less its location)."""
    assert data_files(output) == data_files(reference)
    assert output_files(output, skip=("_assay_job", "_assay_manifest")) == \
        output_files(reference, skip=("_assay_job", "_assay_manifest"))
    got, want = _manifest(output), _manifest(reference)
    for key in ("chunks", "totals", "columns", "model", "options", "classes"):
        assert got[key] == want[key], key


# --- the contract ------------------------------------------------------------------


def test_every_row_is_scored_or_quarantined_once_with_the_models_own_predictions(
        reference: Path, project_dir: Path, input_file: Path) -> None:
    scored = pl.read_parquet(reference / "part-*.parquet")
    held = pl.read_parquet(reference / "quarantine" / "*.parquet")
    assert scored.columns == ["row_index", "application_id", "score", "model", "model_version", "run_id"]
    assert scored.height + held.height == ROWS
    assert sorted(scored["row_index"].to_list() + held["row_index"].to_list()) == list(range(ROWS))
    # Quarantined rows are the planted ones, each with the check it failed, as read from the input.
    assert dict(zip(held["row_index"], held["_assay_failed_checks"], strict=True)) == \
        {position: reason for position, (_, _, reason) in PLANTED.items()}
    assert held.filter(pl.col("row_index") == 11)["purpose"].item() == "lottery"
    # The scores are what the registered model answers for those rows, in input order.
    source = pl.read_parquet(input_file).with_row_index("row_index")
    kept = source.filter(~pl.col("row_index").is_in(list(PLANTED)))
    with Project.open(project_dir) as project:
        model = project.resolve_model(MODEL)
        expected = load_registered(project, model).predict(to_model_frame(kept, model.signature))[:, 1]
    assert scored["row_index"].to_list() == kept["row_index"].cast(pl.Int64).to_list()
    assert scored["application_id"].to_list() == kept["application_id"].to_list()
    assert scored["score"].to_list() == expected.tolist()
    assert set(scored["model_version"]) == {1} and set(scored["run_id"]) == {model.run_id}
    manifest = _manifest(reference)
    assert manifest["complete"] is True and len(manifest["chunks"]) == 10
    assert manifest["totals"] == {"rows": ROWS, "scored": ROWS - 3, "quarantined": 3,
                                  "reasons": {"allowed:purpose": 1, "not_null:debt_to_income": 1, "range:amount": 1}}


def test_the_same_command_again_is_a_no_op_that_reports_the_output(
        reference: Path, project_dir: Path, input_file: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in reference.rglob("*")}
    done = run_score(project_dir, MODEL, input_file, reference, "--chunk-rows", CHUNK, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "complete" and summary["chunks_scored"] == 0
    assert summary["rows"] == ROWS and summary["quarantined"] == 3
    assert {p: p.stat().st_mtime_ns for p in reference.rglob("*")} == before


def test_a_finished_job_is_in_the_audit_log(reference: Path, project_dir: Path) -> None:
    with Project.open(project_dir) as project:
        entries = [e for e in project.metadata.list_audit(subject=MODEL) if e.action == "score"]
    assert entries, "scoring left no audit entry"
    details = entries[-1].details
    assert details["job_id"] == _manifest(reference)["job_id"] and details["rows"] == ROWS
    assert details["output"] == str(reference.resolve())


def test_another_job_never_writes_into_an_output_and_a_new_location_scores_afresh(
        reference: Path, project_dir: Path, input_file: Path, tmp_path: Path) -> None:
    clash = run_score(project_dir, MODEL, input_file, reference, "--chunk-rows", "5000")
    assert clash.returncode == 12
    assert "score-output-conflict" in clash.stderr and "chunk rows (6000 there, 5000 now)" in clash.stderr
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    refused = run_score(project_dir, MODEL, input_file, foreign, "--chunk-rows", CHUNK)
    assert refused.returncode == 12 and "not a scoring job's output" in refused.stderr
    fresh = run_score(project_dir, MODEL, input_file, tmp_path / "elsewhere", "--chunk-rows", CHUNK, "--json")
    assert fresh.returncode == 0 and json.loads(fresh.stdout)["status"] == "scored"
    _same_output(tmp_path / "elsewhere", reference)


def test_csv_input_scores_the_same_rows_as_parquet(project_dir: Path, input_file: Path, reference: Path,
                                                   tmp_path: Path) -> None:
    csv = tmp_path / "applications.csv"
    pl.read_parquet(input_file).write_csv(csv)
    done = run_score(project_dir, MODEL, csv, tmp_path / "out", "--chunk-rows", CHUNK, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["rows"], summary["quarantined"]) == (ROWS, 3)
    reference_parts = {k: v for k, v in data_files(reference).items() if k.startswith("part-")}
    assert {k: v for k, v in data_files(tmp_path / "out").items() if k.startswith("part-")} == reference_parts


def test_missing_model_inputs_are_refused_before_any_work(project_dir: Path, input_file: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial.parquet"
    pl.read_parquet(input_file).drop("income", "region").write_parquet(partial)
    done = run_score(project_dir, MODEL, partial, tmp_path / "out")
    assert done.returncode != 0
    assert "lacks the model input column(s) income, region" in done.stderr and str(partial) in done.stderr
    assert not (tmp_path / "out").exists()


def test_sigkill_at_random_moments_then_the_same_command_gives_the_uninterrupted_output(
        project_dir: Path, input_file: Path, reference: Path, tmp_path: Path) -> None:
    rng = random.Random(20261128)
    n_chunks = len(_manifest(reference)["chunks"])
    for trial in range(4):
        output = tmp_path / f"trial-{trial}"
        kills = 0
        for _ in range(rng.choice((1, 2))):  # some trials are killed twice
            wait_for = rng.randrange(0, n_chunks)  # commit records to see before the kill (0: during start-up)
            extra_s = rng.uniform(0.0, 0.3)
            process = start_score(project_dir, MODEL, input_file, output, "--chunk-rows", CHUNK)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and process.poll() is None:
                if len(list((output / CHUNKS_DIR).glob("*.json"))) >= wait_for:
                    break
                time.sleep(0.02)
            time.sleep(extra_s)
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                kills += 1
            process.wait(timeout=30)
            process.stderr.close()  # type: ignore[union-attr]
        done = run_score(project_dir, MODEL, input_file, output, "--chunk-rows", CHUNK, "--json")
        assert done.returncode == 0, (trial, done.stderr)
        summary = json.loads(done.stdout)
        assert summary["rows"] == ROWS and summary["scored"] + summary["quarantined"] == ROWS
        _same_output(output, reference)
        parts = pl.read_parquet(output / "part-*.parquet")
        assert parts["row_index"].n_unique() == parts.height == ROWS - 3, trial
        assert not [p for p in output.rglob(".*")], "temporary files left behind"
        assert kills >= 1 or summary["status"] == "complete", trial


# --- failures, through the Python API ----------------------------------------------------


def _score(project_dir: Path, input_file: Path, output: Path, fs: FaultyFileSystem, **options: object):
    with Project.open(project_dir) as project:
        return score(project, MODEL, input_url=str(input_file), output_url=str(output), engine=LocalEngine(2),
                     options=ScoreOptions(chunk_rows=int(CHUNK), retry=RetryPolicy(attempts=4, base_s=0.01),
                                          **options),  # type: ignore[arg-type]
                     output_fs=fs)


def test_transient_write_failures_are_retried_and_the_job_succeeds(
        project_dir: Path, input_file: Path, reference: Path, tmp_path: Path) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    fs = FaultyFileSystem(str(faults), fail={"part-00002.parquet": 2, "00005.json": 1})
    summary = _score(project_dir, input_file, tmp_path / "out", fs)
    assert summary.status == "scored" and summary.rows == ROWS
    assert len(injected_failures(faults)) == 3
    assert len(summary.retries) == 3
    assert sum("chunk 2 " in line and "write failed" in line for line in summary.retries) == 2
    assert any("chunk 5 " in line and "commit failed" in line for line in summary.retries)
    assert all("injected I/O error" in line for line in summary.retries)
    _same_output(tmp_path / "out", reference)


def test_a_chunk_that_keeps_failing_stops_the_job_and_committed_chunks_stay(
        project_dir: Path, input_file: Path, reference: Path, tmp_path: Path) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    output = tmp_path / "out"
    broken = FaultyFileSystem(str(faults), fail={"part-00003.parquet": 1_000})
    with pytest.raises(ChunkFailedError) as raised:
        _score(project_dir, input_file, output, broken, max_attempts=2)
    message = str(raised.value)
    assert "chunk 3 (rows 18000-23999 of" in message and "injected I/O error" in message
    assert "are committed and kept" in message and "run the same command again" in message
    committed = {p.stem for p in (output / CHUNKS_DIR).glob("*.json")}
    assert "00003" not in committed and len(committed) >= 1
    for name in committed:  # what was committed is intact: the reference's bytes
        assert (output / f"part-{name}.parquet").read_bytes() == (reference / f"part-{name}.parquet").read_bytes()
    assert not (output / MANIFEST_FILE).exists()
    healed = _score(project_dir, input_file, output, FaultyFileSystem(str(faults)))
    assert healed.status == "resumed" and healed.chunks_scored == 10 - len(committed)
    _same_output(output, reference)


def test_a_hung_worker_is_replaced_and_its_chunk_scored_again(
        project_dir: Path, input_file: Path, reference: Path, tmp_path: Path) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    fs = FaultyFileSystem(str(faults), hang=("part-00004.parquet",))
    summary = _score(project_dir, input_file, tmp_path / "out", fs, chunk_timeout_s=4.0)
    assert summary.status == "scored"
    assert len(summary.requeued) == 1 and "chunk 4 " in summary.requeued[0]
    assert "chunk timeout of 4 s" in summary.requeued[0]
    _same_output(tmp_path / "out", reference)


def test_a_worker_killed_mid_chunk_is_replaced_and_its_chunk_scored_again(
        project_dir: Path, input_file: Path, reference: Path, tmp_path: Path) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    fs = FaultyFileSystem(str(faults), hang=("part-00006.parquet",))
    marker = faults / "hang-part-00006.parquet"
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(_score, project_dir, input_file, tmp_path / "out", fs, chunk_timeout_s=300.0)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (marker.exists() and marker.read_text()):
            time.sleep(0.05)
        worker = int(marker.read_text())
        assert worker != os.getpid()
        os.kill(worker, signal.SIGKILL)  # a crash (OOM killer, segfault) in the middle of a chunk
        summary = job.result(timeout=120)
    assert summary.status == "scored"
    assert len(summary.requeued) == 1 and "chunk 6 " in summary.requeued[0]
    assert "its worker was lost (killed by signal 9)" in summary.requeued[0]
    _same_output(tmp_path / "out", reference)


def _processes_naming(*words: str) -> list[int]:
    """Live processes whose command line contains every word (zombies, already dead, excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and all(any(word.encode() == arg for arg in argv) for word in words):
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads the process table from /proc (Linux)")
def test_killing_the_coordinator_leaves_no_worker_behind(project_dir: Path, input_file: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    process = start_score(project_dir, MODEL, input_file, output, "--chunk-rows", CHUNK, "--workers", "2")
    try:
        # the zygote and its forks (the workers) carry the coordinator's pid on their command line
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if len(_processes_naming("assay.batch.zygote", str(process.pid))) >= 3:
                break
            time.sleep(0.02)
        assert len(_processes_naming("assay.batch.zygote", str(process.pid))) >= 3, "the zygote and 2 workers"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        process.stderr.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _processes_naming("assay.batch.zygote", str(process.pid)):
        time.sleep(0.05)
    assert _processes_naming("assay.batch.zygote", str(process.pid)) == []


def test_an_output_location_cannot_take_two_jobs(project_dir: Path, input_file: Path, reference: Path) -> None:
    with pytest.raises(OutputConflictError), Project.open(project_dir) as project:
        score(project, MODEL, input_url=str(input_file), output_url=str(reference), engine=LocalEngine(1),
              options=ScoreOptions(chunk_rows=1234))
