"""Server errors from the Prometheus text a running `assay serve` exposes at /metrics.

A failed request (a 5xx answer) never reaches the prediction log, so the availability SLI adds the
server's count of them. The counter only grows (and restarts at zero with the server), so one
scrape says nothing about a window: each `assay monitor check` appends a scrape to a short history
under `.assay/monitor/`, and the errors in a window are the increases between consecutive scrapes
that fall inside it, a drop counting as a restart (as Prometheus' `increase()` does).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from assay.monitoring.errors import MonitoringError
from assay.security.secrets import Secret

_REQUESTS = "assay_requests"  # counter family name, without _total


class MetricsUnavailableError(MonitoringError, ConnectionError):
    """--metrics-url could not be read or parsed."""

    code = "monitoring-metrics-unavailable"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            f"cannot read server metrics from {url}: {reason}",
            hint="check that `assay serve` runs there and that --metrics-key names a key with role viewer "
            "(`assay keys create --role viewer`); without --metrics-url availability uses the prediction log only",
        )


@dataclass(frozen=True, slots=True)
class Scrape:
    """Cumulative counts of predict requests at one moment: all of them, and those answered 5xx."""

    at: datetime
    requests: float
    errors: float


def fetch_scrape(url: str, *, at: datetime, key: Secret | None = None, timeout_s: float = 5.0) -> Scrape:
    """Read /metrics once and count predict requests and 5xx answers."""
    request = urllib.request.Request(url, headers={"Accept": "text/plain"})
    if key is not None:
        request.add_header("Authorization", f"Bearer {key.reveal()}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - an operator-given URL
            text = response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        raise MetricsUnavailableError(url, f"HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise MetricsUnavailableError(url, type(exc).__name__ + _reason(exc)) from None
    return parse_scrape(text, at=at, url=url)


def parse_scrape(text: str, *, at: datetime, url: str = "metrics") -> Scrape:
    requests = errors = 0.0
    try:
        for family in text_string_to_metric_families(text):
            if family.name != _REQUESTS:
                continue
            for sample in family.samples:
                if not sample.name.endswith("_total") or sample.labels.get("endpoint") != "predict":
                    continue
                requests += sample.value
                if sample.labels.get("status", "").startswith("5"):
                    errors += sample.value
    except ValueError as exc:
        raise MetricsUnavailableError(url, f"not Prometheus text ({exc})") from None
    return Scrape(at=at, requests=requests, errors=errors)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return f" ({reason})" if isinstance(reason, str) else ""


class ScrapeHistory:
    """The recent scrapes of one server, in a JSON file; older than `keep` are dropped on save."""

    def __init__(self, path: Path, *, keep: timedelta) -> None:
        self._path, self._keep = path, keep

    def load(self) -> list[Scrape]:
        try:
            raw = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise MonitoringError(f"cannot read the scrape history {self._path}: {exc}",
                                  hint=f"delete {self._path}; the next checks rebuild it") from None
        return [Scrape(datetime.fromisoformat(s["at"]), float(s["requests"]), float(s["errors"])) for s in raw]

    def append(self, scrape: Scrape) -> list[Scrape]:
        """Add a scrape, drop the old ones, save atomically; returns the history, oldest first."""
        history = [s for s in self.load() if s.at >= scrape.at - self._keep and s.at < scrape.at] + [scrape]
        history.sort(key=lambda s: s.at)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_name(f".{self._path.name}.tmp")
        temporary.write_text(json.dumps([{"at": s.at.isoformat(), "requests": s.requests, "errors": s.errors}
                                         for s in history]), encoding="utf-8")
        os.replace(temporary, self._path)
        return history


def errors_between(history: list[Scrape], since: datetime, until: datetime) -> float | None:
    """5xx answers between `since` and `until`: the increases between consecutive scrapes whose later
    scrape falls in the window. None when no pair of scrapes ends in the window (nothing is known)."""
    total, known = 0.0, False
    for before, after in zip(history, history[1:], strict=False):
        if since < after.at <= until:
            known = True
            total += after.errors - before.errors if after.errors >= before.errors else after.errors
    return total if known else None


__all__ = ["MetricsUnavailableError", "Scrape", "ScrapeHistory", "errors_between", "fetch_scrape", "parse_scrape"]
