"""The `monitoring:` section of the spec: drift against the model's reference profile, quality
against delayed labels, SLOs with burn-rate alerts, alert sinks, runbooks and retraining triggers.
Every field has a default, so a project is monitored without one (no SLOs, alerts to the log)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from assay.spec.base import SpecModel, at

_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_SLO_NAME = r"^[a-z][a-z0-9_-]{0,62}$"
# `env:NAME` or `file:PATH` (or another provider's scheme); the value itself never goes in the spec.
_SECRET_REF = re.compile(r"^[a-z][a-z0-9+.-]*:\S+$")

Duration = Annotated[str, StringConstraints(pattern=_DURATION.pattern)]


def duration_s(text: str) -> float:
    """Seconds in a duration such as 30s, 5m, 1h, 7d or 2w."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration: use a number and s, m, h, d or w (30s, 5m, 1h, 7d)")
    return float(int(match.group(1)) * _UNIT_S[match.group(2)])


class DriftPolicy(SpecModel):
    """When `assay monitor drift` calls a feature (or the prediction) drifted.

    A feature drifts when its effect size passes the threshold of its statistic AND its test is
    significant after Benjamini-Hochberg control of the false-discovery rate across features: on
    large samples every p-value is tiny, so significance alone would flag everything."""

    numeric: Literal["psi", "ks", "wasserstein"] = Field(
        "psi", description="The effect size judged for numeric features (all are reported)."
    )
    categorical: Literal["psi", "jensen_shannon"] = Field(
        "psi", description="The effect size judged for categorical features (all are reported)."
    )
    psi: float = Field(0.2, gt=0, description="PSI above this is drift (0.1 slight, 0.25 major, by convention).")
    ks: float = Field(0.1, gt=0, le=1, description="Kolmogorov-Smirnov distance above this is drift.")
    wasserstein: float = Field(
        0.1, gt=0, description="Wasserstein distance, in units of the reference's standard deviation, above this is drift."
    )
    jensen_shannon: float = Field(
        0.1, gt=0, le=1, description="Jensen-Shannon distance (base 2, in [0, 1]) above this is drift."
    )
    unseen_share: float = Field(
        0.01, ge=0, le=1, description="Share of values in categories the reference never saw, above this is drift."
    )
    null_rate_increase: float = Field(
        0.05, ge=0, le=1, description="Absolute rise in the share of missing values above this is drift."
    )
    prediction_psi: float = Field(0.2, gt=0, description="PSI of the model's scores above this is prediction drift.")
    fdr: float = Field(
        0.05, gt=0, lt=1, description="False-discovery rate controlled across features (Benjamini-Hochberg)."
    )
    min_rows: int = Field(
        500, ge=1, description="Fewer current rows than this: 'not enough data', never a verdict."
    )


class QualityPolicy(SpecModel):
    """How `assay monitor quality` judges a window of labelled predictions."""

    window: Duration = Field("7d", description="Length of each quality window.")
    min_labels: int = Field(200, ge=1, description="Fewer labelled predictions than this: 'not enough data'.")
    label_column: str | None = Field(
        None, description="Column of the labels file with the outcome (default: the spec's data.target)."
    )
    max_label_delay: Duration = Field(
        "30d", description="Labels arriving later than this after the prediction are not joined."
    )


class SLOSpec(SpecModel):
    """One service-level objective, evaluated with multiwindow burn-rate rules."""

    name: Annotated[str, StringConstraints(pattern=_SLO_NAME)] = Field(description="Short name, used in alerts.")
    kind: Literal["availability", "latency", "freshness", "drift", "quality"] = Field(
        description="availability: share of requests answered by the model (no error, no fallback); "
        "latency: share of requests under threshold_ms; freshness: age of the newest prediction log "
        "entry under max_age; drift: windows without drift; quality: metric over the window."
    )
    objective: float = Field(
        0.99, gt=0, lt=1, description="Target share of good events (0.999 leaves an error budget of 0.1%)."
    )
    period: Duration = Field("28d", description="The SLO's period: the error budget is spent over this.")
    threshold_ms: float | None = Field(None, gt=0, description="latency: a request slower than this is bad.")
    max_age: Duration | None = Field(None, description="freshness: the newest prediction may be this old.")
    metric: str | None = Field(None, description="quality: the metric (e.g. roc_auc), as in evaluation.metrics.")
    min: float | None = Field(None, description="quality: the metric must stay at or above this.")
    max: float | None = Field(None, description="quality: the metric must stay at or below this (error metrics).")
    window: Duration | None = Field(None, description="quality, drift: the evaluation window (default 7d, 1d).")
    runbook: str | None = Field(None, description="Link to the runbook (default: the page `assay monitor runbooks` writes).")

    @model_validator(mode="after")
    def _check(self) -> SLOSpec:
        needs = {"latency": ("threshold_ms",), "freshness": ("max_age",), "quality": ("metric",)}
        for field in needs.get(self.kind, ()):
            if getattr(self, field) is None:
                raise ValueError(at(field, f"a {self.kind} SLO needs {field}"))
        if self.kind == "quality" and (self.min is None) == (self.max is None):
            raise ValueError(at("min", "a quality SLO needs exactly one of min (higher is better) or max"))
        return self


class BurnRateRule(SpecModel):
    """Alert when the error budget burns `factor` times faster than sustainable over BOTH windows
    (the long window shows it is real, the short one that it is still happening)."""

    long: Duration = Field(description="The long window (1h).")
    short: Duration = Field(description="The short window (5m), usually a twelfth of the long one.")
    factor: float = Field(gt=0, description="Burn rate threshold (14.4: 2% of a 30-day budget in one hour).")
    severity: Literal["page", "ticket"] = "page"


def _default_burn_rules() -> list[BurnRateRule]:
    return [
        BurnRateRule(long="1h", short="5m", factor=14.4, severity="page"),
        BurnRateRule(long="6h", short="30m", factor=6.0, severity="page"),
        BurnRateRule(long="3d", short="6h", factor=1.0, severity="ticket"),
    ]


class SinkSpec(SpecModel):
    """Where alerts go: the log (always on), a file of JSON lines, or a webhook."""

    kind: Literal["log", "file", "webhook"]
    path: str | None = Field(None, description="file: the JSON-lines file (relative to the project).")
    url: str | None = Field(None, description="webhook: where alerts are POSTed as JSON.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="webhook: extra headers; values are secret references (env:NAME)."
    )
    timeout_s: float = Field(5.0, gt=0, le=120, description="webhook: per-attempt timeout.")
    attempts: int = Field(4, ge=1, le=20, description="webhook: attempts in all (exponential backoff, full jitter).")
    min_severity: Literal["page", "ticket"] = Field("ticket", description="Send alerts of this severity and above.")

    @model_validator(mode="after")
    def _check(self) -> SinkSpec:
        if self.kind == "file" and not self.path:
            raise ValueError(at("path", "a file sink needs path"))
        if self.kind == "webhook":
            if not self.url or not self.url.startswith(("http://", "https://")):
                raise ValueError(at("url", "a webhook sink needs an http:// or https:// url"))
            for name, value in self.headers.items():
                if not _SECRET_REF.match(value):
                    raise ValueError(at("headers", f"header {name} must be a secret reference such as env:TOKEN, "
                                                   "never the secret itself"))
        return self


class RetrainingPolicy(SpecModel):
    """When monitoring asks for a new model. It never promotes one: a retrained model is a candidate
    that goes through every gate and approval like any other."""

    on_drift_windows: int | None = Field(
        3, ge=1, description="Ask after this many consecutive drifted windows (null: never for drift)."
    )
    on_quality_breach: bool = Field(True, description="Ask when a quality SLO's window breaches.")
    max_model_age: Duration | None = Field("90d", description="Ask when the production model is older than this.")
    train: bool = Field(
        False, description="Also run `assay train` on the newest data when asked (otherwise only record and alert)."
    )


class MonitoringSpec(SpecModel):
    """`assay monitor`: drift, quality, SLOs, alerts, runbooks, retraining."""

    window: Duration = Field("1d", description="Default window of `assay monitor drift` over the prediction log.")
    drift: DriftPolicy = Field(default_factory=DriftPolicy)
    quality: QualityPolicy = Field(default_factory=QualityPolicy)
    slos: list[SLOSpec] = Field(default_factory=list, description="Service-level objectives `assay monitor check` evaluates.")
    burn_rates: list[BurnRateRule] = Field(
        default_factory=_default_burn_rules, description="Multiwindow burn-rate rules, applied to every SLO."
    )
    sinks: list[SinkSpec] = Field(
        default_factory=lambda: [SinkSpec(kind="log")], description="Where alerts go."
    )
    dedup: Duration = Field("6h", description="An alert for the same SLO and rule is sent again only after this.")
    runbooks: str = Field("docs/runbooks", description="Folder (relative to the project) `assay monitor runbooks` writes.")
    retraining: RetrainingPolicy = Field(default_factory=RetrainingPolicy)

    @field_validator("slos")
    @classmethod
    def _unique(cls, value: list[SLOSpec]) -> list[SLOSpec]:
        names = [slo.name for slo in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"SLO names must be unique; repeated: {', '.join(duplicates)}")
        return value


__all__ = [
    "BurnRateRule",
    "DriftPolicy",
    "MonitoringSpec",
    "QualityPolicy",
    "RetrainingPolicy",
    "SLOSpec",
    "SinkSpec",
    "duration_s",
]
