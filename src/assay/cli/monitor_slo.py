"""`assay monitor check` and `assay monitor runbooks`: SLOs with burn-rate alerts, and their runbooks."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
import typer

from assay.cli.context import JSON_OPTION, open_project
from assay.cli.errors import EXIT_FAILED, format_error
from assay.cli.monitoring import monitor_app
from assay.cli.output import print_json, stderr, stdout, table
from assay.errors import AssayError

if TYPE_CHECKING:
    from assay.monitoring.check import CheckResult
    from assay.project.workspace import Project


@monitor_app.command("check")
def check_command(
    ctx: typer.Context,
    model: str = typer.Option(None, "--model", "-m", help="NAME, NAME:VERSION or NAME@ALIAS (default: the spec's model, every version)."),
    loop: bool = typer.Option(False, "--loop", help="Check again every --interval until Ctrl-C or SIGTERM."),
    interval: str = typer.Option("60s", "--interval", help="With --loop: time between checks (30s, 5m, 1h)."),
    metrics_url: str = typer.Option(None, "--metrics-url", help="A running server's /metrics, to count 5xx answers (http://HOST:8000/metrics)."),
    metrics_key: str = typer.Option(None, "--metrics-key", help="Secret reference to an API key with role viewer for --metrics-url (env:ASSAY_READ_KEY)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Evaluate every SLO in monitoring.slos with its multiwindow burn-rate rules and send the alerts that are due.

    An SLO rule fires when its error budget burns faster than the rule's factor over both its long and its short window. Alerts go to monitoring.sinks (the log, a JSON-lines file, a webhook), name the SLO, the evidence and the model version, and link a runbook; the same incident is sent again only after monitoring.dedup, and a "resolved" alert follows when it stops.

    Exit code: 0 when no rule fires, 1 when one does, 13 when an alert could not be delivered. With --loop it runs until stopped and exits 0; a failing check is reported and the loop goes on. See docs/monitoring.md.

    Examples:  assay monitor check   ·   assay monitor check --model credit-default --json   ·   assay monitor check --loop --interval 60s --metrics-url http://127.0.0.1:8000/metrics --metrics-key env:ASSAY_READ_KEY
    """
    from assay.spec.monitoring import duration_s

    try:
        interval_s = duration_s(interval)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--interval") from None
    if interval_s <= 0:
        raise typer.BadParameter("the interval must be positive", param_hint="--interval")
    with open_project(ctx) as project:
        if not loop:
            result = _check_once(project, model=model, metrics_url=metrics_url, metrics_key=metrics_key)
            _render(result, as_json=as_json)
            if result.failed_deliveries:
                from assay.monitoring.alerts import AlertDeliveryError

                raise AlertDeliveryError(result.failed_deliveries)
            if result.fired:
                raise typer.Exit(EXIT_FAILED)
            return
        _loop(project, interval_s=interval_s, as_json=as_json,
              check=lambda: _check_once(project, model=model, metrics_url=metrics_url, metrics_key=metrics_key))


def _check_once(project: Project, *, model: str | None, metrics_url: str | None, metrics_key: str | None) -> CheckResult:
    """Load the spec (edits apply at the next check), build the sinks, check once."""
    from assay.monitoring.alerts import WebhookSink, build_sinks
    from assay.monitoring.check import CheckOptions, check_slos
    from assay.security.providers import SecretProviders
    from assay.security.secrets import resolve_secret
    from assay.serving.logs import configure_logging

    spec, _ = project.load_spec()
    provider = SecretProviders(base_dir=project.root)
    key = resolve_secret(metrics_key, provider) if metrics_key else None
    sinks = build_sinks(spec.monitoring.sinks, project_root=project.root, secrets=provider)
    secrets = [s for sink in sinks if isinstance(sink, WebhookSink) for s in sink.secrets] + ([key] if key else [])
    configure_logging(spec.data.pii, level="info", secrets=secrets)  # JSON on stderr, secrets masked
    options = CheckOptions(model=model, metrics_url=metrics_url, metrics_key=key)
    return check_slos(project, spec, sinks, now=project.clock.now(), options=options)


def _loop(project: Project, *, interval_s: float, as_json: bool, check: Any) -> None:
    """Check every `interval_s` until SIGTERM or Ctrl-C. A check that fails is reported and the loop
    goes on; each check's work is bounded (one read of the log, sink timeouts and attempts)."""
    stop = threading.Event()
    log = structlog.get_logger("assay.monitor")
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                _render(check(), as_json=as_json, one_line=True)
            except AssayError as exc:
                stderr().print(format_error(exc), markup=False)
            except Exception as exc:  # noqa: BLE001 - loop boundary: one bad check must not stop monitoring
                log.error("monitor.check_failed", error=f"{type(exc).__name__}: {exc}")
            stop.wait(max(0.0, interval_s - (time.monotonic() - started)))
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    stderr().print("monitor check loop stopped")


def _render(result: CheckResult, *, as_json: bool, one_line: bool = False) -> None:
    if as_json and one_line:  # --loop --json: one document per line, one line per check
        sys.stdout.write(json.dumps(result.to_dict(), default=str) + "\n")
        sys.stdout.flush()
        return
    if as_json:
        print_json(result.to_dict())
        return
    console = stdout()
    rows = []
    for slo in result.results:
        if slo.not_evaluated:
            rows.append([slo.slo.name, slo.slo.kind, "-", "-", "-", f"not evaluated: {slo.not_evaluated}"])
        for rule in slo.rules:
            short = "-" if rule.short is None else f"{rule.short.burn_rate:.2f} ({_counts(rule.short)})"
            rows.append([slo.slo.name, slo.slo.kind, f"{rule.key} {rule.severity}",
                         f"{rule.long.burn_rate:.2f} ({_counts(rule.long)})", short, "FIRING" if rule.firing else "ok"])
    if not rows:
        console.print("no SLOs in monitoring.slos")
    else:
        console.print(table(f"SLOs of {result.model} at {result.at:%Y-%m-%d %H:%M:%S}",
                            ["slo", "kind", "rule", "long burn (bad/total)", "short burn (bad/total)", "verdict"], rows))
    for delivery in result.deliveries:
        text = f"{delivery.status} alert {delivery.slo} {delivery.rule} → {delivery.sink}: {delivery.outcome}"
        console.print(text + (f" ({delivery.error})" if delivery.error else ""), markup=False)
    retraining = result.retraining
    if retraining is None:
        console.print("retraining: no reason to retrain (monitoring.retraining)")
    else:
        because = "; ".join(r.detail for r in retraining.reasons)
        if not retraining.requested:
            when = f" since {retraining.previous_at:%Y-%m-%d %H:%M}" if retraining.previous_at else ""
            console.print(f"retraining: a request for {retraining.model} stands{when} ({because})", markup=False)
        else:
            console.print(f"retraining: requested for {retraining.model} ({because})", markup=False)
            if retraining.trained:
                console.print(f"retraining: trained {retraining.trained}: {retraining.status}; it goes through approval "
                              "and `assay deploy` like any other candidate", markup=False)
            elif retraining.status == "failed":
                console.print(f"retraining: training failed: {retraining.detail}", markup=False)
    for note in result.notes:
        stderr().print(f"note: {note}", markup=False)
    for slo in result.results:
        if slo.firing:
            console.print(f"runbook for {slo.slo.name}: {slo.runbook}", markup=False)


def _counts(burn: Any) -> str:
    return f"{burn.total - burn.good:g}/{burn.total:g}"


@monitor_app.command("runbooks")
def runbooks_command(
    ctx: typer.Context,
    force: bool = typer.Option(False, "--force", help="Also replace pages a person has edited."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write the runbooks alerts link into monitoring.runbooks (default docs/runbooks): one page per alert kind.

    Pages: availability, latency, freshness, drift, quality, retraining; each says what the alert means, how to confirm it (the exact assay commands), how to mitigate and how to roll back. Safe to run again: an untouched page is brought up to date, a page someone edited is kept unless --force.

    Examples:  assay monitor runbooks   ·   assay monitor runbooks --json   ·   assay monitor runbooks --force
    """
    from assay.monitoring.runbooks import write_runbooks

    with open_project(ctx) as project:
        spec, _ = project.load_spec()
        folder = Path(spec.monitoring.runbooks)
        folder = folder if folder.is_absolute() else project.root / folder
        pages = write_runbooks(folder, model=spec.model.name, force=force)
    if as_json:
        print_json({"folder": str(folder), "pages": [p.to_dict() for p in pages]})
        return
    stdout().print(table(f"runbooks in {folder}", ["kind", "page", "outcome"],
                         [[p.kind, p.path.name, p.outcome + (" (edited; --force replaces it)" if p.outcome == "kept" else "")]
                          for p in pages]))


__all__ = ["check_command", "runbooks_command"]
