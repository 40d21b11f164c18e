"""Alert sinks against real files and real HTTP servers on 127.0.0.1, and dedup across checks."""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

import pytest
from structlog.testing import capture_logs

from assay.monitoring.alerts import (
    Alert,
    AlertState,
    Candidate,
    FileSink,
    LogSink,
    SendError,
    WebhookSink,
    build_sinks,
    dispatch,
)
from assay.security.secrets import EnvFileProvider
from assay.spec.monitoring import SinkSpec

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DEDUP = timedelta(hours=6)
TOKEN = "s3cr3t-token-value"


def alert(status: Literal["firing", "resolved"] = "firing", incident: str = "available/1h/5mx14.4@x") -> Alert:
    return Alert(status, "available", "availability", "1h/5mx14.4", "page", "credit-default:3",
                 "SLO available burns 16.7x over 1h and 100.0x over 5m", "docs/runbooks/availability.md", NOW, incident,
                 {"windows": [{"window": "1h", "good": 100, "total": 120, "burn_rate": 16.7}]})


def candidate(firing: bool, severity: str = "page") -> Candidate:
    return Candidate("available", "1h/5mx14.4", severity, firing, lambda status, incident: alert(status, incident))


class Recorder:
    """An HTTP server on 127.0.0.1 that answers the first `failures` POSTs with 503, then 200."""

    def __init__(self, failures: int = 0) -> None:
        self.failures, self.bodies, self.headers = failures, [], []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                recorder.headers.append(dict(self.headers))
                recorder.bodies.append(json.loads(body))
                status = 503 if len(recorder.bodies) <= recorder.failures else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder(failures=2)
    yield server
    server.close()


def webhook(url: str, delays: list[float], **kwargs: object) -> WebhookSink:
    return WebhookSink(url, name="webhook#0", timeout_s=2.0, attempts=4, rng=random.Random(7), sleep=delays.append,
                       **kwargs)  # type: ignore[arg-type]


def test_the_webhook_retries_with_backoff_until_the_server_answers(recorder: Recorder) -> None:
    delays: list[float] = []
    assert webhook(recorder.url, delays).send(alert()) == 3
    assert len(recorder.bodies) == 3 and recorder.bodies[-1]["slo"] == "available"
    # Full jitter: each wait is uniform in [0, 0.5 s x 2^n].
    assert len(delays) == 2 and 0 <= delays[0] <= 0.5 and 0 <= delays[1] <= 1.0


def test_one_incident_is_one_alert_until_dedup_or_resolution(recorder: Recorder, tmp_path: Path) -> None:
    sink = webhook(recorder.url, [])
    state = AlertState(tmp_path / "alerts.json")
    first = dispatch([candidate(True)], [sink], state, now=NOW, dedup=DEDUP)
    assert [(d.outcome, d.attempts) for d in first] == [("sent", 3)]
    second = dispatch([candidate(True)], [sink], state, now=NOW + timedelta(minutes=1), dedup=DEDUP)
    assert [d.outcome for d in second] == ["suppressed"] and len(recorder.bodies) == 3
    later = dispatch([candidate(True)], [sink], state, now=NOW + DEDUP, dedup=DEDUP)
    assert [d.outcome for d in later] == ["sent"] and len(recorder.bodies) == 4
    assert recorder.bodies[3]["incident"] == recorder.bodies[2]["incident"]  # the same incident, reminded

    resolved = dispatch([candidate(False)], [sink], state, now=NOW + DEDUP + timedelta(minutes=5), dedup=DEDUP)
    assert [(d.status, d.outcome) for d in resolved] == [("resolved", "sent")]
    assert recorder.bodies[-1]["status"] == "resolved"
    quiet = dispatch([candidate(False)], [sink], state, now=NOW + DEDUP + timedelta(minutes=6), dedup=DEDUP)
    assert quiet == [] and len(recorder.bodies) == 5

    again = dispatch([candidate(True)], [sink], state, now=NOW + DEDUP + timedelta(minutes=7), dedup=DEDUP)
    assert [d.outcome for d in again] == ["sent"]
    assert recorder.bodies[-1]["incident"] != recorder.bodies[2]["incident"]  # firing again: a new incident


def test_a_failed_delivery_is_tried_again_at_the_next_check(tmp_path: Path) -> None:
    server = Recorder(failures=5)
    try:
        sink = WebhookSink(server.url, name="webhook#0", attempts=2, sleep=lambda s: None)
        state = AlertState(tmp_path / "alerts.json")
        (failed,) = dispatch([candidate(True)], [sink], state, now=NOW, dedup=DEDUP)
        assert (failed.outcome, failed.attempts) == ("failed", 2) and "HTTP 503" in failed.error
        (retried,) = dispatch([candidate(True)], [sink], state, now=NOW + timedelta(minutes=1), dedup=DEDUP)
        assert retried.outcome == "failed" and len(server.bodies) == 4  # not suppressed: it was never delivered
    finally:
        server.close()


def test_a_server_that_never_answers_costs_at_most_attempts_times_the_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # connections are accepted by the kernel and never answered
    try:
        delays: list[float] = []
        sink = WebhookSink(f"http://127.0.0.1:{listener.getsockname()[1]}/", name="webhook#0", timeout_s=0.2,
                           attempts=2, sleep=delays.append)
        with pytest.raises(SendError, match="timed out after 0.2s after 2 attempt") as caught:
            sink.send(alert())
        assert caught.value.attempts == 2 and len(delays) == 1
    finally:
        listener.close()


def test_a_client_error_is_not_retried(tmp_path: Path) -> None:
    class Refuse(BaseHTTPRequestHandler):
        calls = 0

        def do_POST(self) -> None:  # noqa: N802
            Refuse.calls += 1
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sink = WebhookSink(f"http://127.0.0.1:{server.server_address[1]}/", name="w", sleep=lambda s: None)
        with pytest.raises(SendError, match="HTTP 400 after 1 attempt"):
            sink.send(alert())
        assert Refuse.calls == 1
    finally:
        server.shutdown()
        server.server_close()


def test_header_secrets_reach_the_server_and_nothing_else(recorder: Recorder, tmp_path: Path) -> None:
    recorder.failures = 0
    spec = SinkSpec(kind="webhook", url=recorder.url, headers={"Authorization": "env:HOOK_TOKEN"})
    (sink,) = build_sinks([spec], project_root=tmp_path,
                          secrets=EnvFileProvider({"HOOK_TOKEN": TOKEN}, base_dir=tmp_path))
    state = AlertState(tmp_path / "alerts.json")
    with capture_logs() as logs:
        dispatch([candidate(True)], [sink, LogSink()], state, now=NOW, dedup=DEDUP)
    assert recorder.headers[0]["Authorization"] == TOKEN
    assert TOKEN not in state.path.read_text() and TOKEN not in repr(logs) and TOKEN not in repr(sink.__dict__)


def test_the_log_sink_names_the_slo_the_evidence_and_the_runbook(tmp_path: Path) -> None:
    with capture_logs() as logs:
        dispatch([candidate(True)], [LogSink()], AlertState(tmp_path / "a.json"), now=NOW, dedup=DEDUP)
    (event,) = logs
    assert event["event"] == "slo.alert" and event["log_level"] == "warning"
    assert event["slo"] == "available" and event["model"] == "credit-default:3"
    assert event["runbook"] == "docs/runbooks/availability.md" and event["evidence"]["windows"][0]["burn_rate"] == 16.7


def test_the_file_sink_appends_whole_lines_from_concurrent_writers(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "alerts" / "out.jsonl", name="file#1")
    threads = [threading.Thread(target=lambda: [sink.send(alert()) for _ in range(50)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = (tmp_path / "alerts" / "out.jsonl").read_text().splitlines()
    assert len(lines) == 200 and all(json.loads(line)["slo"] == "available" for line in lines)


def test_a_page_only_sink_does_not_get_tickets(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "pages.jsonl", name="file#0", min_severity="page")
    deliveries = dispatch([candidate(True, severity="ticket")], [sink], AlertState(tmp_path / "a.json"), now=NOW,
                          dedup=DEDUP)
    assert deliveries == [] and not (tmp_path / "pages.jsonl").exists()
