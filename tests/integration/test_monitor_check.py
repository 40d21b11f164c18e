"""`assay monitor check` and `assay monitor runbooks` end to end on the demo project, as a user
runs them (subprocesses), with a prediction log written by the server's own writer and a real
webhook on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assay.project.demo import run_demo
from assay.serving.predlog import PredictionLog, PredictionRecord
from tests.unit.monitoring.test_monitor_alerts import Recorder

pytestmark = pytest.mark.slow
MODEL = "credit-default"


def assay(project: Path, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assay", "-C", str(project), *args], capture_output=True, text=True,
                          timeout=timeout_s, env={**os.environ, "OMP_NUM_THREADS": "1", "HOOK_TOKEN": "t0k3n"},
                          check=False)


def write_log(project: Path, *, bad_minutes: int) -> None:
    """70 minutes of traffic up to now, one request every 30 s; the last `bad_minutes` answered slowly
    by the fallback."""
    end = datetime.now(UTC)
    log = PredictionLog(project / ".assay" / "predictions" / MODEL, columns=[("amount", "float")])
    for n in range(140):
        at = end - timedelta(seconds=30 * (140 - n))
        bad = end - at <= timedelta(minutes=bad_minutes)
        log.append(PredictionRecord(f"r{n}", at, MODEL, 1, "production", [{"amount": 1.0}], [[0.3]],
                                    latency_ms=900.0 if bad else 5.0, fallback=bad,
                                    fallback_reason="timeout" if bad else ""))
    log.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_demo(tmp_path_factory.mktemp("slo") / "demo", rows=2000).project_dir


@pytest.fixture(scope="module")
def hook() -> Iterator[Recorder]:
    server = Recorder(failures=1)
    yield server
    server.close()


@pytest.fixture(scope="module")
def burning(demo: Path, hook: Recorder) -> Path:
    spec = demo / "assay.yaml"
    spec.write_text(spec.read_text() + f"""
monitoring:
  slos:
    - {{name: available, kind: availability, objective: 0.99}}
    - {{name: fast, kind: latency, threshold_ms: 100, objective: 0.99}}
    - {{name: fresh, kind: freshness, max_age: 10m, objective: 0.99}}
    - {{name: auc, kind: quality, metric: roc_auc, min: 0.7}}
  burn_rates: [{{long: 1h, short: 5m, factor: 14.4}}]  # the log holds only 70 minutes
  sinks:
    - {{kind: log}}
    - {{kind: file, path: alerts/alerts.jsonl}}
    - {{kind: webhook, url: "{hook.url}", headers: {{Authorization: "env:HOOK_TOKEN"}}, attempts: 3, timeout_s: 2}}
""")
    write_log(demo, bad_minutes=10)
    return demo


def test_a_fast_burn_alerts_once_with_evidence_and_a_runbook(burning: Path, hook: Recorder) -> None:
    done = assay(burning, "monitor", "check", "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    status = {s["slo"]: s["status"] for s in report["slos"]}
    assert status == {"available": "firing", "fast": "firing", "fresh": "ok", "auc": "not evaluated"}
    assert report["model"] == f"{MODEL}:1"

    lines = [json.loads(line) for line in (burning / "alerts" / "alerts.jsonl").read_text().splitlines()]
    assert {(a["slo"], a["rule"]) for a in lines} == {("available", "1h/5mx14.4"), ("fast", "1h/5mx14.4")}
    available = next(a for a in lines if a["slo"] == "available")
    assert available["runbook"] == "docs/runbooks/availability.md" and available["model"] == f"{MODEL}:1"
    long, short = available["evidence"]["windows"]
    assert long["window"] == "1h" and long["total"] - long["good"] == 20 and long["total"] >= 115  # the clock moved on
    assert (short["window"], short["burn_rate"]) == ("5m", 100) and long["detail"]["model_versions"] == {"1": long["total"]}
    assert len(hook.bodies) == 3 and hook.headers[-1]["Authorization"] == "t0k3n"  # one 503, then both alerts
    assert '"slo.alert"' in done.stderr and "t0k3n" not in done.stderr

    again = assay(burning, "monitor", "check", "--json")
    assert again.returncode == 1
    assert {d["outcome"] for d in json.loads(again.stdout)["deliveries"]} == {"suppressed"}
    assert len(hook.bodies) == 3 and len((burning / "alerts" / "alerts.jsonl").read_text().splitlines()) == 2


def test_runbooks_are_written_where_alerts_link(burning: Path) -> None:
    done = assay(burning, "monitor", "runbooks", "--json")
    assert done.returncode == 0, done.stderr
    pages = {p["kind"]: p["outcome"] for p in json.loads(done.stdout)["pages"]}
    assert set(pages) == {"availability", "latency", "freshness", "drift", "quality", "retraining"}
    assert "assay rollback credit-default" in (burning / "docs" / "runbooks" / "availability.md").read_text()


def test_the_loop_stops_cleanly_on_sigterm(burning: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "assay", "-C", str(burning), "monitor", "check", "--loop",
                                "--interval", "1s", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "OMP_NUM_THREADS": "1", "HOOK_TOKEN": "t0k3n"})
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())  # one line per check
        second = json.loads(process.stdout.readline())
        assert first["fired"] and second["fired"]
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0 and "loop stopped" in err


def test_a_healthy_log_exits_zero_and_resolves(burning: Path, hook: Recorder) -> None:
    for part in (burning / ".assay" / "predictions").rglob("*.parquet"):
        part.unlink()
    write_log(burning, bad_minutes=0)
    done = assay(burning, "monitor", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resolved alert available" in done.stdout
    assert hook.bodies[-1]["status"] == "resolved"
