"""SLIs from a real prediction log, and multiwindow burn-rate verdicts on them.

The logs are written with the server's own `PredictionLog` writer at chosen instants, and every
verdict is taken at a fixed `now`, so the windows hold exactly the requests the test put there.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assay.clock import FixedClock
from assay.monitoring.requests import read_inputs, read_requests
from assay.monitoring.server_metrics import Scrape, errors_between, parse_scrape
from assay.monitoring.sli import (
    AvailabilitySLI,
    FreshnessSLI,
    LatencySLI,
    NotEvaluated,
    QualitySLI,
    SLIReading,
    Window,
)
from assay.monitoring.slo import evaluate_slo, longest_window, rules_for
from assay.serving.metrics import ServingMetrics
from assay.serving.predlog import PredictionLog, PredictionRecord
from assay.spec.monitoring import MonitoringSpec, SLOSpec

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=30)  # one request every 30 s
RULES = MonitoringSpec().burn_rates  # 1h/5m x14.4 page, 6h/30m x6 page, 3d/6h x1 ticket
AVAILABLE = SLOSpec(name="available", kind="availability", objective=0.99)


def write_log(root: Path, *, hours: float, bad: list[tuple[timedelta, timedelta]] = (), latency_ms: float = 10.0,
              slow_latency_ms: float = 500.0, end: datetime = NOW) -> None:
    """One request every 30 s for `hours` up to `end`; requests `ago` in (b, a] of a `bad` span (a, b) are
    answered by the fallback, slowly."""
    clock = FixedClock(end)
    log = PredictionLog(root, columns=[("x", "float")], clock=clock.now, max_buffer_rows=100_000)
    at, n = end - timedelta(hours=hours), 0
    while at < end:
        ago = end - at
        is_bad = any(b < ago <= a for a, b in bad)
        log.append(PredictionRecord(
            request_id=f"r{n}", at=at, model_name="m", model_version=3, route="production",
            rows=[{"x": 1.0}, {"x": 2.0}], outputs=[[0.2], [0.7]],  # two rows, one request
            latency_ms=slow_latency_ms if is_bad else latency_ms, fallback=is_bad,
            fallback_reason="timeout" if is_bad else ""))
        at, n = at + STEP, n + 1
    log.close()


def verdicts(root: Path, slo: SLOSpec = AVAILABLE) -> dict[str, bool]:
    requests = read_requests(root, since=NOW - longest_window([slo], RULES), until=NOW)
    provider = AvailabilitySLI(requests) if slo.kind == "availability" else LatencySLI(requests, threshold_ms=slo.threshold_ms)
    result = evaluate_slo(slo, provider, rules_for(slo, RULES), now=NOW, runbook="docs/runbooks/x.md")
    return {rule.key: rule.firing for rule in result.rules}


@pytest.fixture(scope="module")
def fast_burn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three healthy days, then the last 10 minutes all answered by the fallback."""
    root = tmp_path_factory.mktemp("fast") / "m"
    write_log(root, hours=72, bad=[(timedelta(minutes=10), timedelta(0))])
    return root


def test_a_fast_burn_pages(fast_burn: Path) -> None:
    # 1h: 20 of 120 requests bad = 16.7% of a 1% budget (burn 16.7 > 14.4); 5m: all bad.
    assert verdicts(fast_burn) == {"1h/5mx14.4": True, "6h/30mx6": False, "3d/6hx1": False}


def test_the_evidence_counts_requests_not_rows(fast_burn: Path) -> None:
    requests = read_requests(fast_burn, since=NOW - timedelta(hours=1), until=NOW)
    reading = AvailabilitySLI(requests).read(Window("1h", NOW - timedelta(hours=1), NOW))
    assert (reading.total, reading.good) == (120, 100)
    assert reading.detail["model_versions"] == {3: 120}


def test_a_brief_blip_an_hour_ago_does_not_alert(tmp_path: Path) -> None:
    write_log(tmp_path / "m", hours=72, bad=[(timedelta(minutes=32), timedelta(minutes=30))])
    assert not any(verdicts(tmp_path / "m").values())


def test_a_blip_now_burns_the_short_window_but_not_the_long_one(tmp_path: Path) -> None:
    write_log(tmp_path / "m", hours=72, bad=[(timedelta(minutes=2), timedelta(0))])
    requests = read_requests(tmp_path / "m", since=NOW - timedelta(hours=1), until=NOW)
    result = evaluate_slo(AVAILABLE, AvailabilitySLI(requests), RULES[:1], now=NOW, runbook="r")
    (rule,) = result.rules
    assert rule.short is not None and rule.short.burn_rate > 14.4  # 4 of 10 requests in 5 minutes
    assert rule.long.burn_rate < 14.4 and not rule.firing


def test_a_slow_burn_opens_a_ticket(tmp_path: Path) -> None:
    # 3% of every hour bad for 3 days: burn 3 over 3d and 6h, under the page factors.
    write_log(tmp_path / "m", hours=72, bad=[(timedelta(hours=h, minutes=2), timedelta(hours=h)) for h in range(72)])
    assert verdicts(tmp_path / "m") == {"1h/5mx14.4": False, "6h/30mx6": False, "3d/6hx1": True}


def test_latency_counts_requests_over_the_threshold(fast_burn: Path) -> None:
    slo = SLOSpec(name="fast", kind="latency", threshold_ms=100, objective=0.99)
    assert verdicts(fast_burn, slo)["1h/5mx14.4"] is True
    assert not any(verdicts(fast_burn, slo.model_copy(update={"threshold_ms": 1000})).values())


def test_no_traffic_spends_no_error_budget(tmp_path: Path) -> None:
    assert not any(verdicts(tmp_path / "missing").values())


def test_freshness_fires_when_the_log_stops(tmp_path: Path) -> None:
    slo = SLOSpec(name="fresh", kind="freshness", max_age="10m", objective=0.99)
    write_log(tmp_path / "m", hours=72, end=NOW - timedelta(hours=2))  # nothing in the last two hours
    requests = read_requests(tmp_path / "m", since=NOW - longest_window([slo], RULES), until=NOW)
    result = evaluate_slo(slo, FreshnessSLI(requests, max_age_s=600), RULES, now=NOW, runbook="r")
    firing = {r.key: r.firing for r in result.rules}
    assert firing["1h/5mx14.4"] and firing["6h/30mx6"]
    assert result.rules[0].long.value == pytest.approx(2 * 3600 + 30, abs=1)  # newest entry's age at `now`


def test_freshness_is_good_while_predictions_flow(fast_burn: Path) -> None:
    slo = SLOSpec(name="fresh", kind="freshness", max_age="10m", objective=0.99)
    requests = read_requests(fast_burn, since=NOW - longest_window([slo], RULES), until=NOW)
    result = evaluate_slo(slo, FreshnessSLI(requests, max_age_s=600), RULES, now=NOW, runbook="r")
    assert not result.firing and result.rules[0].long.bad_share == 0


def test_quality_without_its_module_is_not_evaluated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "assay.monitoring.quality", None)  # importing it raises ImportError
    slo = SLOSpec(name="auc", kind="quality", metric="roc_auc", min=0.75)
    provider = QualitySLI(object(), model_ref="m:3", metric="roc_auc", min_value=0.75, max_value=None)
    result = evaluate_slo(slo, provider, rules_for(slo, RULES), now=NOW, runbook="r")
    assert result.rules == () and "quality monitoring is not available" in (result.not_evaluated or "")


def test_a_windowed_slo_fires_on_one_bad_window() -> None:
    class Bad:
        def read(self, window: Window) -> SLIReading:
            assert window.seconds == 7 * 86_400
            return SLIReading(good=0, total=1, value=0.70)

    slo = SLOSpec(name="auc", kind="quality", metric="roc_auc", min=0.75)
    result = evaluate_slo(slo, Bad(), rules_for(slo, RULES), now=NOW, runbook="r")
    assert [(r.key, r.severity, r.firing) for r in result.rules] == [("7d/7dx1", "ticket", True)]


def test_not_evaluated_is_not_a_breach() -> None:
    class Missing:
        def read(self, window: Window) -> NotEvaluated:
            return NotEvaluated("no module")

    result = evaluate_slo(AVAILABLE, Missing(), RULES, now=NOW, runbook="r")
    assert result.firing == () and result.not_evaluated == "no module"


def test_server_errors_come_from_the_exposed_counters() -> None:
    metrics = ServingMetrics()
    for status in (200, 200, 503, 500):
        metrics.observe_request(endpoint="predict", status=status, model_version="m:3", route="production", latency_s=0.01)
    metrics.observe_request(endpoint="models", status=500, model_version="", route="", latency_s=0.01)
    scrape = parse_scrape(metrics.render()[0].decode(), at=NOW)
    assert (scrape.requests, scrape.errors) == (4, 2)


def test_server_errors_in_a_window_survive_a_restart() -> None:
    t = [NOW - timedelta(minutes=m) for m in (30, 20, 10, 0)]
    history = [Scrape(t[0], 100, 5), Scrape(t[1], 200, 9), Scrape(t[2], 10, 1), Scrape(t[3], 50, 4)]  # restart before t2
    assert errors_between(history, NOW - timedelta(minutes=25), NOW) == 4 + 1 + 3
    assert errors_between(history, NOW - timedelta(minutes=5), NOW) == 3
    assert errors_between(history[:1], NOW - timedelta(hours=1), NOW) is None  # one scrape: nothing known yet


def test_availability_adds_server_errors_to_the_log(fast_burn: Path) -> None:
    requests = read_requests(fast_burn, since=NOW - timedelta(hours=1), until=NOW)
    reading = AvailabilitySLI(requests, server_errors=lambda since, until: 30.0).read(
        Window("1h", NOW - timedelta(hours=1), NOW))
    assert (reading.good, reading.total) == (100, 150)


def test_drift_reads_the_logged_inputs_of_one_version(fast_burn: Path) -> None:
    frame = read_inputs(fast_burn, since=NOW - timedelta(minutes=10), until=NOW, version=3)
    assert frame.columns == ["x"] and frame.height == 2 * 20  # two rows per request
    assert read_inputs(fast_burn, since=NOW - timedelta(minutes=10), until=NOW, version=4).height == 0
