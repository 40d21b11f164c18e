"""One `assay monitor check`: read the SLIs, judge every SLO's burn-rate rules, send the alerts.

The prediction log is read once per check, over the longest window any rule needs; every window
after that is a binary search in memory, so the work per check is bounded by that span, whatever
the number of SLOs and rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from assay.security.identity import Action
from assay.monitoring.alerts import (
    Alert,
    AlertSink,
    AlertState,
    Candidate,
    Delivery,
    dispatch,
)
from assay.errors import AssayError
from assay.monitoring.errors import MonitoringError
from assay.monitoring.model_drift import log_window_drift
from assay.monitoring.retraining import (
    DriftHistory,
    RetrainingOutcome,
    complete_windows,
    request_retraining,
    retraining_reasons,
)
from assay.monitoring.requests import RequestLog, read_requests
from assay.monitoring.runbooks import runbook_path
from assay.monitoring.server_metrics import (
    MetricsUnavailableError,
    ScrapeHistory,
    errors_between,
    fetch_scrape,
)
from assay.monitoring.sli import (
    AvailabilitySLI,
    DriftSLI,
    FreshnessSLI,
    LatencySLI,
    NotEvaluated,
    QualitySLI,
    SLIProvider,
    Window,
)
from assay.monitoring.slo import (
    WINDOWED_KINDS,
    RuleVerdict,
    SLOResult,
    describe,
    evaluate_slo,
    longest_window,
    rules_for,
)
from assay.project.reference import load_reference
from assay.project.settings import STATE_DIR
from assay.project.workspace import ModelRef, Project
from assay.registry.records import ModelVersion
from assay.security.secrets import Secret
from assay.spec.model import Spec
from assay.spec.monitoring import SLOSpec, duration_s

MONITOR_DIR = "monitor"


class PredictionLogOffError(MonitoringError, LookupError):
    """An SLO reads the prediction log, and the spec turns the log off."""

    code = "monitoring-prediction-log-off"

    def __init__(self, slos: Sequence[str]) -> None:
        super().__init__(
            f"SLO(s) {', '.join(slos)} read the prediction log, but serving.prediction_log.enabled is false",
            hint="set serving.prediction_log.enabled: true (the default) and restart `assay serve`, "
            "or remove those SLOs from monitoring.slos",
        )


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """`model`: NAME, NAME:VERSION or NAME@ALIAS (default: the spec's model, every version).
    `metrics_url`: a running server's /metrics, for 5xx answers the prediction log never sees."""

    model: str | None = None
    metrics_url: str | None = None
    metrics_key: Secret | None = None
    metrics_timeout_s: float = 5.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    at: datetime
    model: str
    results: tuple[SLOResult, ...]
    deliveries: tuple[Delivery, ...]
    notes: tuple[str, ...] = ()
    retraining: RetrainingOutcome | None = None  # a request this check made (or found standing)

    @property
    def fired(self) -> bool:
        """Some SLO rule is firing now, or the retraining policy asks for a model (whether or not
        dedup held the alert back)."""
        return any(r.firing for r in self.results) or self.retraining is not None

    @property
    def failed_deliveries(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.outcome == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "model": self.model, "fired": self.fired,
                "slos": [r.to_dict() for r in self.results], "deliveries": [d.to_dict() for d in self.deliveries],
                "notes": list(self.notes),
                "retraining": None if self.retraining is None else self.retraining.to_dict()}


def prediction_log_root(project: Project, spec: Spec, model_name: str) -> Path:
    """The model's folder of the prediction log, where `assay serve` writes it."""
    settings = spec.serving.prediction_log
    root = Path(settings.path) if settings.path else project.root / STATE_DIR / "predictions"
    return (root if root.is_absolute() else project.root / root) / model_name


def check_slos(project: Project, spec: Spec, sinks: Sequence[AlertSink], *, now: datetime,
               options: CheckOptions = CheckOptions()) -> CheckResult:  # noqa: B008 - frozen value
    """Evaluate every SLO of the spec at `now`, send due alerts, record what was sent."""
    project.require(Action.MONITOR, subject="monitor check")
    monitoring = spec.monitoring
    name, version = _model(project, options.model or spec.model.name)
    events = [s for s in monitoring.slos if s.kind not in WINDOWED_KINDS]
    if events and not spec.serving.prediction_log.enabled:
        raise PredictionLogOffError([s.name for s in events])
    log_root = prediction_log_root(project, spec, name)
    span = longest_window(monitoring.slos, monitoring.burn_rates)
    requests = read_requests(log_root, since=now - span, until=now, version=version)
    notes: list[str] = []
    server_errors = _server_errors(project, options, now=now, keep=span, notes=notes)
    production = project.metadata.get_deployment(name).production
    served = version if version is not None else production
    label = f"{name}:{served}" if served is not None else name
    results = []
    for slo in monitoring.slos:
        provider = _provider(slo, project, spec, requests=requests, server_errors=server_errors, log_root=log_root,
                             model_name=name, version=served)
        runbook = slo.runbook or runbook_path(monitoring.runbooks, slo.kind)
        results.append(evaluate_slo(slo, provider, rules_for(slo, monitoring.burn_rates), now=now, runbook=runbook))
    candidates = [_candidate(result, verdict, label, now) for result in results for verdict in result.rules]
    retraining = None
    if served is not None:
        retraining = _retraining(project, spec, project.metadata.get_model(name, served), results,
                                 log_folder=log_root.parent, now=now, notes=notes)
        candidates.append(_retraining_candidate(retraining, label, monitoring.runbooks, now))
    state = AlertState(project.root / STATE_DIR / MONITOR_DIR / "alerts.json")
    deliveries = dispatch(candidates, sinks, state, now=now, dedup=timedelta(seconds=duration_s(monitoring.dedup)))
    return CheckResult(now, label, tuple(results), tuple(deliveries), tuple(notes), retraining)


def _retraining(project: Project, spec: Spec, model: ModelVersion, results: Sequence[SLOResult], *,
                log_folder: Path, now: datetime, notes: list[str]) -> RetrainingOutcome | None:
    """Apply monitoring.retraining to the served model: sustained drift over the last complete
    windows, quality SLOs in breach, the model's age. A request when a reason holds."""
    policy = spec.monitoring.retraining
    drift_windows: list[bool | None] = []
    if policy.on_drift_windows is not None:
        drift_slo = next((s for s in spec.monitoring.slos if s.kind == "drift"), None)
        length = duration_s(drift_slo.window if drift_slo and drift_slo.window else spec.monitoring.window)
        try:
            reference = load_reference(project, model)
        except AssayError as exc:
            notes.append(f"sustained drift not judged: {exc.message}")
        else:
            def judge(since: datetime, until: datetime) -> bool | None:
                report = log_window_drift(project, model, log_folder, since=since, until=until,
                                          policy=spec.monitoring.drift, reference=reference)
                return None if not report.enough_data else bool(report.drifted)

            history = DriftHistory(project.root / STATE_DIR / MONITOR_DIR / "drift_windows.json")
            drift_windows = history.verdicts(model.ref, complete_windows(now, length, policy.on_drift_windows), judge)
    breaches = [r.slo.name for r in results if r.slo.kind == "quality" and r.firing]
    reasons = retraining_reasons(policy, model=model, now=now, drift_windows=drift_windows, quality_breaches=breaches)
    if not reasons:
        return None
    return request_retraining(project, model, reasons, policy=policy, dedup=spec.monitoring.dedup)


def _retraining_candidate(outcome: RetrainingOutcome | None, model: str, runbooks: str, now: datetime) -> Candidate:
    """The retraining policy as one more alert rule: firing while a reason to retrain holds."""
    def alert(status: Literal["firing", "resolved"], incident: str) -> Alert:
        if status == "resolved" or outcome is None:
            summary, evidence = f"resolved: no reason to retrain {model} any more", {}
        else:
            summary = f"retraining requested for {outcome.model}: " + "; ".join(r.detail for r in outcome.reasons)
            if outcome.trained:
                summary += f"; trained {outcome.trained} ({outcome.status}); it goes through approval and rollout as usual"
            elif outcome.status == "failed":
                summary += f"; training failed: {outcome.detail}"
            evidence = outcome.to_dict()
        return Alert(status, "retraining", "retraining", "policy", "ticket", model, summary,
                     runbook_path(runbooks, "retraining"), now, incident, evidence)

    return Candidate("retraining", "policy", "ticket", outcome is not None, alert)


def _model(project: Project, text: str) -> tuple[str, int | None]:
    ref = ModelRef.parse(text)
    if ref.version is None and ref.alias is None:
        return ref.name, None
    return ref.name, project.resolve_model(ref).version


def _server_errors(project: Project, options: CheckOptions, *, now: datetime, keep: timedelta,
                   notes: list[str]) -> Callable[[datetime, datetime], float | None] | None:
    if options.metrics_url is None:
        return None
    try:
        scrape = fetch_scrape(options.metrics_url, at=now, key=options.metrics_key, timeout_s=options.metrics_timeout_s)
    except MetricsUnavailableError as exc:
        notes.append(f"availability uses the prediction log only: {exc}".splitlines()[0])
        return None
    history = ScrapeHistory(project.root / STATE_DIR / MONITOR_DIR / "scrapes.json", keep=keep + timedelta(hours=1))
    scrapes = history.append(scrape)
    return lambda since, until: errors_between(scrapes, since, until)


def _provider(slo: SLOSpec, project: Project, spec: Spec, *, requests: RequestLog,
              server_errors: Callable[[datetime, datetime], float | None] | None, log_root: Path, model_name: str,
              version: int | None) -> SLIProvider:
    if slo.kind == "availability":
        return AvailabilitySLI(requests, server_errors=server_errors)
    if slo.kind == "latency":
        assert slo.threshold_ms is not None  # the spec requires it
        return LatencySLI(requests, threshold_ms=slo.threshold_ms)
    if slo.kind == "freshness":
        assert slo.max_age is not None  # the spec requires it
        return FreshnessSLI(requests, max_age_s=duration_s(slo.max_age))
    if version is None:
        return _Unavailable(f"{model_name} has no production model to judge {slo.kind} of (pass --model NAME:VERSION)")
    if slo.kind == "quality":
        assert slo.metric is not None  # the spec requires it
        return QualitySLI(project, model_ref=f"{model_name}:{version}", metric=slo.metric, min_value=slo.min,
                          max_value=slo.max)
    model = project.metadata.get_model(model_name, version)
    reference = load_reference(project, model)  # stored with its run: read once per check
    folder = log_root.parent  # the log's root; `log_root` is this model's folder in it
    return DriftSLI(lambda since, until: log_window_drift(project, model, folder, since=since, until=until,
                                                          policy=spec.monitoring.drift, reference=reference))


class _Unavailable:
    def __init__(self, reason: str) -> None:
        self._reason = reason

    def read(self, window: Window) -> NotEvaluated:
        return NotEvaluated(self._reason)


def _candidate(result: SLOResult, verdict: RuleVerdict, model: str, now: datetime) -> Candidate:
    slo = result.slo

    def alert(status: Literal["firing", "resolved"], incident: str) -> Alert:
        summary = describe(result, verdict)
        if status == "resolved":
            summary = f"resolved: SLO {slo.name} no longer burns faster than rule {verdict.key} allows"
        windows = [verdict.long.to_dict()] + ([] if verdict.short is None else [verdict.short.to_dict()])
        evidence = {"objective": slo.objective, "error_budget": round(1 - slo.objective, 6), "factor": verdict.factor,
                    "windows": windows, "model_versions": verdict.long.detail.get("model_versions", {})}
        return Alert(status, slo.name, slo.kind, verdict.key, verdict.severity, model, summary, result.runbook, now,
                     incident, evidence)

    return Candidate(slo.name, verdict.key, verdict.severity, verdict.firing, alert)


__all__ = ["CheckOptions", "CheckResult", "PredictionLogOffError", "check_slos", "prediction_log_root"]
