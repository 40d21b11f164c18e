"""Alerts and where they go: the log, a JSON-lines file, a webhook; one incident is one alert.

Dedup state lives in `.assay/monitor/alerts.json`, keyed by SLO and rule, with the time each sink
was last sent the incident. A rule that keeps firing is sent again to a sink only after
`monitoring.dedup`; when it stops firing, the sinks that had it get a "resolved" alert and the
state is dropped, so firing again is a new incident. A failed delivery is not recorded as sent,
so the next check tries that sink again. The state file is rewritten atomically under an
exclusive lock, so overlapping checks (a slow cron run) do not both send.

Webhook header values are secret references, resolved when the sink is built; the value is only
ever put in the request, never in a message, a log event or the state.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import structlog

from assay.monitoring.locking import exclusive_lock
from assay.monitoring.errors import MonitoringError
from assay.security.secrets import Secret, SecretProvider, resolve_secret
from assay.spec.monitoring import SinkSpec

_SEVERITY_RANK = {"ticket": 0, "page": 1}
_BACKOFF_BASE_S = 0.5
_BACKOFF_CAP_S = 30.0
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class AlertDeliveryError(MonitoringError, ConnectionError):
    """An alert could not be delivered to a sink; the next check tries that sink again."""

    code = "monitoring-alert-delivery"

    def __init__(self, failures: Sequence[Delivery]) -> None:
        lines = "; ".join(f"{d.sink} ({d.slo} {d.rule}): {d.error}" for d in failures)
        super().__init__(
            f"{len(failures)} alert delivery(ies) failed: {lines}",
            hint="check the sink (webhook reachable, file writable) in monitoring.sinks; "
            "the next `assay monitor check` sends the alert again",
        )


@dataclass(frozen=True, slots=True)
class Alert:
    """What a sink receives. `incident` is stable for one firing episode of one SLO rule."""

    status: Literal["firing", "resolved"]
    slo: str
    kind: str
    rule: str
    severity: str
    model: str
    summary: str
    runbook: str
    at: datetime
    incident: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["at"] = self.at.isoformat()
        return document


@dataclass(frozen=True, slots=True)
class Delivery:
    """What happened to one alert at one sink."""

    sink: str
    slo: str
    rule: str
    status: Literal["firing", "resolved"]
    outcome: Literal["sent", "suppressed", "failed"]
    attempts: int = 0
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SendError(Exception):
    """A sink's last attempt failed; the message names the cause, never a header value."""

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


class AlertSink(Protocol):
    name: str
    min_severity: str

    def send(self, alert: Alert) -> int:
        """Deliver the alert; returns the attempts it took. Raises SendError."""
        ...


# --- sinks ----------------------------------------------------------------------


class LogSink:
    """A structured log event per alert (`slo.alert` at warning, `slo.resolved` at info)."""

    def __init__(self, *, name: str = "log", min_severity: str = "ticket") -> None:
        self.name, self.min_severity = name, min_severity
        self._log = structlog.get_logger("assay.monitor")

    def send(self, alert: Alert) -> int:
        fields = alert.to_dict()
        fields.pop("status")
        if alert.status == "firing":
            self._log.warning("slo.alert", **fields)
        else:
            self._log.info("slo.resolved", **fields)
        return 1


class FileSink:
    """Appends one JSON line per alert. The file is opened with O_APPEND and each line goes out in
    one write, so lines from concurrent writers never interleave and a reader never sees half a line
    from a completed write."""

    def __init__(self, path: Path, *, name: str, min_severity: str = "ticket") -> None:
        self.path, self.name, self.min_severity = path, name, min_severity

    def send(self, alert: Alert) -> int:
        line = (json.dumps(alert.to_dict(), sort_keys=True) + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        except OSError as exc:
            raise SendError(f"{type(exc).__name__}: {exc.strerror} ({self.path})") from None
        return 1


class WebhookSink:
    """POSTs the alert as JSON. Each attempt has `timeout_s`; a connection error, a timeout or a
    429/5xx answer is retried up to `attempts` in all, after an exponential backoff with full jitter
    (a uniform wait in [0, min(30 s, 0.5 s x 2^n)]), so many checkers do not retry in step. Other
    4xx answers are not retried: the request itself is wrong."""

    def __init__(self, url: str, *, name: str, headers: Mapping[str, Secret] | None = None, timeout_s: float = 5.0,
                 attempts: int = 4, min_severity: str = "ticket", rng: random.Random | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url, self.name, self.min_severity = url, name, min_severity
        self._headers = dict(headers or {})
        self._timeout_s, self._attempts = timeout_s, attempts
        self._rng, self._sleep = rng or random.Random(), sleep

    @property
    def secrets(self) -> tuple[Secret, ...]:
        """The resolved header values, for a log redactor to mask."""
        return tuple(self._headers.values())

    def send(self, alert: Alert) -> int:
        body = json.dumps(alert.to_dict(), sort_keys=True).encode("utf-8")
        last = ""
        for attempt in range(1, self._attempts + 1):
            retry, last = self._post(body)
            if not last:
                return attempt
            if not retry or attempt == self._attempts:
                break
            self._sleep(self._rng.uniform(0.0, min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** (attempt - 1))))
        raise SendError(f"{last} after {attempt} attempt(s)", attempts=attempt)

    def _post(self, body: bytes) -> tuple[bool, str]:
        """One attempt: (worth retrying, error text); the error is empty on success."""
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "assay-monitor"})
        for header, secret in self._headers.items():
            request.add_header(header, secret.reveal())
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310 - spec's URL
                response.read()
            return False, ""
        except urllib.error.HTTPError as exc:
            return exc.code in _RETRY_STATUSES, f"HTTP {exc.code}"
        except TimeoutError:
            return True, f"timed out after {self._timeout_s:g}s"
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return True, f"timed out after {self._timeout_s:g}s"
            return True, f"cannot connect ({type(exc.reason).__name__})"
        except OSError as exc:
            return True, f"{type(exc).__name__}"


def build_sinks(specs: Sequence[SinkSpec], *, project_root: Path, secrets: SecretProvider,
                rng: random.Random | None = None, sleep: Callable[[float], None] = time.sleep) -> list[AlertSink]:
    """The spec's sinks, webhook header secrets resolved now (a missing secret fails before any check)."""
    sinks: list[AlertSink] = []
    for index, spec in enumerate(specs):
        name = f"{spec.kind}#{index}"
        if spec.kind == "log":
            sinks.append(LogSink(name=name, min_severity=spec.min_severity))
        elif spec.kind == "file":
            assert spec.path is not None  # the spec requires it
            path = Path(spec.path) if Path(spec.path).is_absolute() else project_root / spec.path
            sinks.append(FileSink(path, name=name, min_severity=spec.min_severity))
        else:
            assert spec.url is not None  # the spec requires it
            headers = {header: resolve_secret(ref, secrets) for header, ref in spec.headers.items()}
            sinks.append(WebhookSink(spec.url, name=name, headers=headers, timeout_s=spec.timeout_s,
                                     attempts=spec.attempts, min_severity=spec.min_severity, rng=rng, sleep=sleep))
    return sinks


# --- dedup and dispatch -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A rule's state at this check: firing (with the alert to send) or not."""

    slo: str
    rule: str
    severity: str
    firing: bool
    alert: Callable[[Literal["firing", "resolved"], str], Alert]  # (status, incident) -> Alert


class AlertState:
    """The dedup state file; `open()` holds an exclusive lock until the block ends."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def open(self) -> Iterator[dict[str, Any]]:
        with exclusive_lock(self.path.with_name(self.path.name + ".lock")):
            state = self._load()
            yield state
            temporary = self.path.with_name(f".{self.path.name}.tmp")
            temporary.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(temporary, self.path)

    def _load(self) -> dict[str, Any]:
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise MonitoringError(f"cannot read the alert state {self.path}: {exc}",
                                  hint=f"delete {self.path}: open incidents are then alerted again once") from None
        return state if isinstance(state, dict) else {}


def dispatch(candidates: Sequence[Candidate], sinks: Sequence[AlertSink], state_file: AlertState, *, now: datetime,
             dedup: timedelta) -> list[Delivery]:
    """Send what is new, due again, or resolved; record what was sent. Returns every sink's outcome."""
    deliveries: list[Delivery] = []
    with state_file.open() as state:
        for candidate in candidates:
            key = f"{candidate.slo}/{candidate.rule}"
            entry = state.get(key)
            if candidate.firing:
                if entry is None:
                    entry = state[key] = {"since": now.isoformat(), "sent": {}}
                incident = f"{key}@{entry['since']}"
                for sink in sinks:
                    if _SEVERITY_RANK[candidate.severity] < _SEVERITY_RANK[sink.min_severity]:
                        continue
                    last = entry["sent"].get(sink.name)
                    if last is not None and now - datetime.fromisoformat(last) < dedup:
                        deliveries.append(Delivery(sink.name, candidate.slo, candidate.rule, "firing", "suppressed"))
                        continue
                    delivery = _send(sink, candidate.alert("firing", incident), candidate)
                    if delivery.outcome == "sent":
                        entry["sent"][sink.name] = now.isoformat()
                    deliveries.append(delivery)
            elif entry is not None:
                incident = f"{key}@{entry['since']}"
                for sink in sinks:
                    if sink.name in entry["sent"]:
                        deliveries.append(_send(sink, candidate.alert("resolved", incident), candidate))
                del state[key]
    return deliveries


def _send(sink: AlertSink, alert: Alert, candidate: Candidate) -> Delivery:
    try:
        attempts = sink.send(alert)
    except SendError as exc:
        return Delivery(sink.name, candidate.slo, candidate.rule, alert.status, "failed", exc.attempts, str(exc))
    return Delivery(sink.name, candidate.slo, candidate.rule, alert.status, "sent", attempts=attempts)


__all__ = [
    "Alert",
    "AlertDeliveryError",
    "AlertSink",
    "AlertState",
    "Candidate",
    "Delivery",
    "FileSink",
    "LogSink",
    "SendError",
    "WebhookSink",
    "build_sinks",
    "dispatch",
]
