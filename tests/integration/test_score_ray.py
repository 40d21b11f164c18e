"""`assay score --engine ray` on a real local Ray: the same bytes as the local engine, a SIGKILLed
job resumed to the same bytes, a hung actor replaced, and a clear error when Ray is missing or its
cluster unreachable.

Ray runs in `assay score` subprocesses (each starts and stops its own local instance), and once in
the test process (the hung actor, whose fault needs the Python API). A Ray process is recognised by the session folder it keeps files open in, which
Ray names after the driver's pid: that is how the tests check that nothing is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from scoring_support import data_files, make_input, score_argv, start_score

from assay.batch.errors import EngineUnavailableError
from assay.batch.job import score
from assay.batch.local import LocalEngine
from assay.batch.options import ScoreOptions
from assay.batch.output import CHUNKS_DIR, MANIFEST_FILE
from assay.batch.ray_engine import RayEngine
from assay.project.demo import run_demo
from assay.project.workspace import Project

MODEL = "credit-default:1"
ROWS = 20_000
CHUNK_ROWS = 4_000
CHUNKS = ROWS // CHUNK_ROWS


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_demo(tmp_path_factory.mktemp("ray") / "demo", rows=4000).project_dir


@pytest.fixture(scope="module")
def job_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_input(tmp_path_factory.mktemp("ray-input") / "input.parquet", rows=ROWS, row_group_rows=5_000)


@pytest.fixture(scope="module")
def reference(project_dir: Path, job_input: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The job scored uninterrupted by the local engine."""
    output = tmp_path_factory.mktemp("ray-reference") / "out"
    with Project.open(project_dir) as project:
        score(project, MODEL, input_url=str(job_input), output_url=str(output), engine=LocalEngine(2),
              options=ScoreOptions(chunk_rows=CHUNK_ROWS))
    return output


def _manifest(output: Path) -> dict[str, Any]:
    return json.loads((output / MANIFEST_FILE).read_text())


def _processes_holding(wanted: Callable[[str], bool]) -> set[int]:
    """Processes with an open file whose path `wanted` accepts."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if any(wanted(link) for link in links):
            found.add(int(proc.name))
    return found


def _ray_processes(driver_pid: int) -> set[int]:
    """Processes holding files in the Ray session a driver started (named `session_..._<pid>`)."""
    return _processes_holding(lambda link: "/session_" in link and f"_{driver_pid}/" in link)


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace").strip()
    except OSError:
        return ""


def _is_agent(pid: int) -> bool:
    """Ray's per-node agents (dashboard, runtime env): they hold no data and outlive a killed driver."""
    command = _command(pid)
    return command.startswith("ray::") and command.endswith("Agent")


def _await_ray_exit(driver_pid: int, within_s: float, *, but_agents: bool = False) -> set[int]:
    """Wait (bounded) until a driver's Ray processes are gone (`but_agents`: all but its agents);
    the ones still there at the end."""
    deadline = time.monotonic() + within_s
    left = _ray_processes(driver_pid)
    while any(not (but_agents and _is_agent(pid)) for pid in left) and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _ray_processes(driver_pid)
    return left


def _kill(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def ray_drivers() -> Iterator[list[int]]:
    """Pids of the `assay score --engine ray` processes a test starts; their Ray processes are
    killed afterwards whatever happened, so a failing test leaves nothing running."""
    drivers: list[int] = []
    yield drivers
    for pid in drivers:
        _kill(_ray_processes(pid))


def _score_ray(project_dir: Path, job_input: Path, output: Path, drivers: list[int], *args: str) -> dict[str, Any]:
    """`assay score --engine ray --json` to completion; its summary. Asserts Ray stopped with it."""
    argv = score_argv(MODEL, job_input, output, "--engine", "ray", "--workers", "2", "--chunk-rows", str(CHUNK_ROWS),
                      "--json", *args)
    process = subprocess.Popen(argv, cwd=project_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    drivers.append(process.pid)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    left = _await_ray_exit(process.pid, 15)
    assert left == set(), f"the local Ray instance outlived `assay score`: {[_command(p) for p in left]}"
    return json.loads(out)


def test_ray_engine_writes_the_local_engines_bytes(project_dir: Path, job_input: Path, reference: Path,
                                                   tmp_path: Path, ray_drivers: list[int]) -> None:
    output = tmp_path / "ray"
    summary = _score_ray(project_dir, job_input, output, ray_drivers)

    assert summary["status"] == "scored"
    assert summary["engine"] == "ray, 2 actor(s) on a local Ray instance"
    assert (summary["rows"], summary["quarantined"], summary["chunks"]) == (ROWS, 3, CHUNKS)
    assert summary["costs"]["workers"]["peak_rss_mib"] > 20  # each actor reports its own with its chunks
    assert data_files(output) == data_files(reference)
    ours, theirs = _manifest(output), _manifest(reference)
    assert ours["chunks"] == theirs["chunks"]
    assert ours["totals"] == theirs["totals"]
    assert ours["job_id"] != theirs["job_id"]  # another output folder: another job, the same rows


@pytest.mark.slow
def test_ray_job_killed_with_sigkill_resumes_to_the_same_bytes(project_dir: Path, job_input: Path, reference: Path,
                                                               tmp_path: Path, ray_drivers: list[int]) -> None:
    output = tmp_path / "killed"
    driver = start_score(project_dir, MODEL, job_input, output, "--engine", "ray", "--workers", "2",
                         "--chunk-rows", str(CHUNK_ROWS))
    ray_drivers.append(driver.pid)
    deadline = time.monotonic() + 120
    while not any((output / CHUNKS_DIR).glob("*.json")):
        assert driver.poll() is None, driver.stderr.read().decode() if driver.stderr else ""
        assert time.monotonic() < deadline, "no chunk committed within 120 s"
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    assert not (output / MANIFEST_FILE).exists(), "the job finished before the kill: nothing to resume"

    # Ray's node processes die with the driver; its actors notice within seconds, and may commit
    # the chunk in hand meanwhile (harmless: the commit is atomic, and a resume re-verifies it).
    # Its agent processes may outlive it: they hold no data, and are stopped here.
    left = _await_ray_exit(driver.pid, 30, but_agents=True)
    assert all(_is_agent(pid) for pid in left), f"still running 30 s after the kill: {[_command(p) for p in left]}"
    _kill(left)
    before = {p.relative_to(output).as_posix() for p in output.rglob("*")}
    time.sleep(2)
    assert {p.relative_to(output).as_posix() for p in output.rglob("*")} == before, "files appeared after the kill"

    summary = _score_ray(project_dir, job_input, output, ray_drivers)

    assert summary["status"] == "resumed"
    assert 0 < summary["chunks_scored"] < CHUNKS
    assert data_files(output) == data_files(reference)
    manifest = _manifest(output)
    assert [c["index"] for c in manifest["chunks"]] == list(range(CHUNKS))
    assert manifest["chunks"] == _manifest(reference)["chunks"]
    rows = pl.read_parquet(sorted(output.glob("part-*.parquet"))).get_column("row_index")
    quarantined = pl.read_parquet(sorted((output / "quarantine").glob("*.parquet"))).get_column("row_index")
    everything = pl.concat([rows, quarantined])
    assert everything.len() == ROWS
    assert everything.n_unique() == ROWS


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("form", ["ray://127.0.0.1:{port}", "127.0.0.1:{port}"])
def test_unreachable_ray_cluster_is_a_clear_engine_error(project_dir: Path, job_input: Path, tmp_path: Path,
                                                         form: str) -> None:
    address = form.format(port=_free_port())
    started = time.monotonic()
    with pytest.raises(EngineUnavailableError) as caught:
        score(Project.open(project_dir), MODEL, input_url=str(job_input), output_url=str(tmp_path / "out"),
              engine=RayEngine(address=address), options=ScoreOptions(chunk_rows=CHUNK_ROWS))
    assert time.monotonic() - started < 30
    assert caught.value.code == "score-engine"
    assert address in caught.value.message
    assert "cluster is up" in caught.value.hint


def test_missing_ray_is_a_clear_engine_error(project_dir: Path, job_input: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails, as when it is not installed
    with pytest.raises(EngineUnavailableError) as caught:
        score(Project.open(project_dir), MODEL, input_url=str(job_input), output_url=str(tmp_path / "out"),
              engine=RayEngine(), options=ScoreOptions(chunk_rows=CHUNK_ROWS))
    assert "Ray" in caught.value.message and "not installed" in caught.value.message
    assert caught.value.hint == "pip install 'assay[ray]'"


def test_a_hung_ray_actor_is_replaced_and_its_chunk_scored_again(project_dir: Path, job_input: Path,
                                                                   reference: Path, tmp_path: Path) -> None:
    """Through the Python API (the fault is injected with a filesystem the actors use): the first
    write of chunk 2's part never returns; the chunk timeout kills that actor, a fresh one scores the
    chunk, and the output is still the local engine's, byte for byte. Ray stops with the job."""
    from scoring_support import FaultyFileSystem

    faults = tmp_path / "faults"
    faults.mkdir()
    fs = FaultyFileSystem(str(faults), hang=("part-00002.parquet",))
    try:
        with Project.open(project_dir) as project:
            summary = score(project, MODEL, input_url=str(job_input), output_url=str(tmp_path / "out"),
                            engine=RayEngine(workers=2), output_fs=fs,
                            options=ScoreOptions(chunk_rows=CHUNK_ROWS, chunk_timeout_s=8.0))
    finally:
        left = _await_ray_exit(os.getpid(), 30) - {os.getpid()}
        _kill(left)
    assert (faults / "hang-part-00002.parquet").exists(), "the fault was never hit"
    assert summary.status == "scored" and summary.rows == ROWS
    assert len(summary.requeued) == 1 and "chunk 2 " in summary.requeued[0] and "chunk timeout" in summary.requeued[0]
    assert data_files(tmp_path / "out") == data_files(reference)
    assert left == set(), f"Ray outlived the job: {[_command(p) for p in left]}"


def test_a_crashed_ray_actor_is_replaced_and_its_chunk_scored_again(project_dir: Path, job_input: Path,
                                                                     reference: Path, tmp_path: Path) -> None:
    """The actor scoring chunk 2 is killed (SIGKILL, as the OOM killer would) in the middle of its
    write: Ray reports the actor dead, a fresh one scores the chunk, long before any timeout."""
    import threading

    from scoring_support import FaultyFileSystem

    faults = tmp_path / "faults"
    faults.mkdir()
    marker = faults / "hang-part-00002.parquet"
    fs = FaultyFileSystem(str(faults), hang=("part-00002.parquet",))
    killed: list[int] = []

    def kill_the_actor() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not (marker.exists() and marker.read_text()):
            time.sleep(0.05)
        if marker.exists() and marker.read_text():
            killed.append(int(marker.read_text()))
            os.kill(killed[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_the_actor, daemon=True)
    killer.start()
    try:
        with Project.open(project_dir) as project:
            summary = score(project, MODEL, input_url=str(job_input), output_url=str(tmp_path / "out"),
                            engine=RayEngine(workers=2), output_fs=fs,
                            options=ScoreOptions(chunk_rows=CHUNK_ROWS, chunk_timeout_s=300.0))
    finally:
        killer.join(timeout=5)
        left = _await_ray_exit(os.getpid(), 30) - {os.getpid()}
        _kill(left)
    assert killed and killed[0] != os.getpid(), "the actor holding chunk 2 was never found"
    assert summary.status == "scored" and summary.rows == ROWS
    assert len(summary.requeued) == 1 and "chunk 2 " in summary.requeued[0]
    assert "its worker was lost (Ray actor lost" in summary.requeued[0]
    assert data_files(tmp_path / "out") == data_files(reference)
    assert left == set(), f"Ray outlived the job: {[_command(p) for p in left]}"


def _processes_under(folder: Path) -> set[int]:
    """Processes holding files under a folder (the Ray session of a `ray start --temp-dir`)."""
    return _processes_holding(lambda link: link.startswith(str(folder)))


@pytest.fixture
def ray_cluster() -> Iterator[tuple[str, Path]]:
    """A Ray head started apart from the job (`ray start --head`), as a cluster is: the job connects
    to its client port, and the cluster goes on running after the job. Stopped afterwards."""
    import tempfile

    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    gcs, client = _free_port(), _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0",
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    argv = [sys.executable, "-c", "from ray.scripts.scripts import main; main()", "start", "--head",
            f"--port={gcs}", f"--ray-client-server-port={client}", "--num-cpus=2", "--include-dashboard=false",
            f"--temp-dir={temp}", "--disable-usage-stats"]
    try:
        subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=True)
        yield f"ray://127.0.0.1:{client}", temp
    finally:
        _kill(_processes_under(temp))
        deadline = time.monotonic() + 15
        while _processes_under(temp) and time.monotonic() < deadline:
            time.sleep(0.1)


def test_a_job_on_a_running_ray_cluster_writes_the_local_engines_bytes(
        project_dir: Path, job_input: Path, reference: Path, tmp_path: Path, ray_cluster: tuple[str, Path],
        ray_drivers: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """What the docs show for a real cluster: `--address ray://HEAD:10001`. The cluster outlives
    the job (the job only disconnects), and the output is the local engine's, byte for byte."""
    # `ray start` turns token authentication on; a client sends the token only when told to
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    address, session = ray_cluster
    summary = _score_ray(project_dir, job_input, tmp_path / "out", ray_drivers, "--address", address)
    assert summary["status"] == "scored" and summary["rows"] == ROWS
    assert any("gcs_server" in _command(pid) for pid in _processes_under(session)), "the job stopped the cluster"
    assert data_files(tmp_path / "out") == data_files(reference)
    assert _manifest(tmp_path / "out")["chunks"] == _manifest(reference)["chunks"]
