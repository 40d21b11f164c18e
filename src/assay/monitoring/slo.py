"""SLOs judged by multiwindow burn-rate rules.

The burn rate of a window is its share of bad events divided by the error budget (1 - objective):
1 spends the budget exactly over the SLO's period, 14.4 spends 2% of a 30-day budget in an hour.
A rule fires when BOTH its long window (the burn is real, not a blip) and its short window (it is
still happening, so the alert resolves soon after the fix) burn faster than its factor.

Drift and quality are judged per evaluation window rather than per request: their SLIs give one
event per window, and a single rule over the SLO's `window` (factor 1, severity ticket) fires when
that window is bad.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from assay.monitoring.sli import NotEvaluated, SLIProvider, SLIReading, Window
from assay.spec.monitoring import BurnRateRule, SLOSpec, duration_s

WINDOWED_KINDS = frozenset({"drift", "quality"})
_DEFAULT_WINDOW = {"quality": "7d", "drift": "1d"}


@dataclass(frozen=True, slots=True)
class WindowBurn:
    """One window of one rule: the counts and the burn rate they give."""

    window: Window
    good: float
    total: float
    bad_share: float
    burn_rate: float
    value: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window.label, "since": self.window.since.isoformat(), "until": self.window.until.isoformat(),
                "good": self.good, "total": self.total, "bad_share": round(self.bad_share, 6),
                "burn_rate": round(self.burn_rate, 4), "value": self.value, "detail": dict(self.detail)}


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """One burn-rate rule applied to one SLO. `key` names the rule in alerts and dedup state."""

    key: str
    severity: str
    factor: float
    long: WindowBurn
    short: WindowBurn | None
    firing: bool

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.key, "severity": self.severity, "factor": self.factor, "firing": self.firing,
                "long": self.long.to_dict(), "short": None if self.short is None else self.short.to_dict()}


@dataclass(frozen=True, slots=True)
class SLOResult:
    """An SLO's verdicts, or why it was not evaluated."""

    slo: SLOSpec
    runbook: str
    rules: tuple[RuleVerdict, ...] = ()
    not_evaluated: str | None = None

    @property
    def firing(self) -> tuple[RuleVerdict, ...]:
        return tuple(r for r in self.rules if r.firing)

    def to_dict(self) -> dict[str, Any]:
        return {"slo": self.slo.name, "kind": self.slo.kind, "objective": self.slo.objective, "runbook": self.runbook,
                "status": "not evaluated" if self.not_evaluated else ("firing" if self.firing else "ok"),
                "not_evaluated": self.not_evaluated, "rules": [r.to_dict() for r in self.rules]}


def rule_key(rule: BurnRateRule) -> str:
    return f"{rule.long}/{rule.short}x{rule.factor:g}"


def rules_for(slo: SLOSpec, burn_rates: Sequence[BurnRateRule]) -> list[BurnRateRule]:
    """The rules an SLO is judged by: the spec's burn-rate rules, or the one window rule of drift and quality."""
    if slo.kind in WINDOWED_KINDS:
        window = slo.window or _DEFAULT_WINDOW[slo.kind]
        return [BurnRateRule(long=window, short=window, factor=1.0, severity="ticket")]
    return list(burn_rates)


def longest_window(slos: Sequence[SLOSpec], burn_rates: Sequence[BurnRateRule]) -> timedelta:
    """How far back the event SLOs need the prediction log (freshness adds its max_age)."""
    spans = [duration_s(r.long) + (duration_s(s.max_age) if s.max_age else 0.0)
             for s in slos if s.kind not in WINDOWED_KINDS for r in burn_rates]
    return timedelta(seconds=max(spans, default=0.0))


def evaluate_slo(slo: SLOSpec, provider: SLIProvider, rules: Sequence[BurnRateRule], *, now: datetime,
                 runbook: str) -> SLOResult:
    """Every rule of one SLO at `now`. Each distinct window is read once."""
    readings: dict[str, SLIReading | NotEvaluated] = {}

    def burn(label: str) -> WindowBurn | NotEvaluated:
        window = Window(label, now - timedelta(seconds=duration_s(label)), now)
        if label not in readings:
            readings[label] = provider.read(window)
        reading = readings[label]
        if isinstance(reading, NotEvaluated):
            return reading
        budget = 1.0 - slo.objective
        return WindowBurn(window, reading.good, reading.total, reading.bad_share, reading.bad_share / budget,
                          reading.value, reading.detail)

    verdicts = []
    for rule in rules:
        long = burn(rule.long)
        if isinstance(long, NotEvaluated):
            return SLOResult(slo, runbook, not_evaluated=long.reason)
        short = None if rule.short == rule.long else burn(rule.short)
        if isinstance(short, NotEvaluated):
            return SLOResult(slo, runbook, not_evaluated=short.reason)
        firing = long.burn_rate > rule.factor and (short is None or short.burn_rate > rule.factor)
        verdicts.append(RuleVerdict(rule_key(rule), rule.severity, rule.factor, long, short, firing))
    return SLOResult(slo, runbook, tuple(verdicts))


def describe(result: SLOResult, verdict: RuleVerdict) -> str:
    """One line for a person: which SLO, how fast it burns, over which windows."""
    slo = result.slo
    windows = f"{verdict.long.burn_rate:.1f}x over {verdict.long.window.label}"
    if verdict.short is not None:
        windows += f" and {verdict.short.burn_rate:.1f}x over {verdict.short.window.label}"
    return (f"SLO {slo.name} ({slo.kind}, objective {slo.objective:.4g}) burns its error budget {windows}"
            f" (rule {verdict.key}: alert above {verdict.factor:g}x)")


__all__ = [
    "WINDOWED_KINDS",
    "RuleVerdict",
    "SLOResult",
    "WindowBurn",
    "describe",
    "evaluate_slo",
    "longest_window",
    "rule_key",
    "rules_for",
]
