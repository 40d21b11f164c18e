"""Service-level indicators: for a window of time, how many events were good out of how many.

Every SLO kind has a provider with one method, `read(window)`, so the burn-rate arithmetic in
`assay.monitoring.slo` never knows where the numbers come from. Availability, latency and
freshness read the prediction log (and, for availability, the server's 5xx count); drift and
quality call the drift and quality modules, imported only when such an SLO is evaluated, and say
"not evaluated" with the reason when they are not installed: never a made-up number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np

from assay.monitoring.requests import RequestLog, to_us

_MIN_SLICE_S = 60.0  # freshness is judged once a minute of the window...
_MAX_SLICES = 10_000  # ...or coarser, so a long window stays bounded work


@dataclass(frozen=True, slots=True)
class Window:
    """The half-open interval `since <= t < until`, named by its length (`label`, e.g. 1h)."""

    label: str
    since: datetime
    until: datetime

    @property
    def seconds(self) -> float:
        return (self.until - self.since).total_seconds()


@dataclass(frozen=True, slots=True)
class SLIReading:
    """`good` of `total` events were good in the window. `value` is the kind's own measure when it
    has one (freshness: age in seconds of the newest prediction at the window's end; quality: the
    metric); `detail` is evidence for the alert (counts by model version, server errors, ...)."""

    good: float
    total: float
    value: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def bad_share(self) -> float:
        return 0.0 if self.total <= 0 else max(0.0, self.total - self.good) / self.total


@dataclass(frozen=True, slots=True)
class NotEvaluated:
    """The SLI could not be read; `reason` says why (a missing module, too few labels)."""

    reason: str


class SLIProvider(Protocol):
    """The numbers behind one SLO, for any window."""

    def read(self, window: Window) -> SLIReading | NotEvaluated: ...


# --- from the prediction log ---------------------------------------------------


class AvailabilitySLI:
    """Good: a request the model answered (not the fallback). Bad: a fallback answer, or a 5xx answer
    counted by the server (`server_errors(since, until)`, None when unknown) that never reached the log."""

    def __init__(self, requests: RequestLog, *, server_errors: Callable[[datetime, datetime], float | None] | None = None) -> None:
        self._requests, self._server_errors = requests, server_errors

    def read(self, window: Window) -> SLIReading:
        part = self._requests.bounds(window.since, window.until)
        logged = part.stop - part.start
        fallbacks = int(np.count_nonzero(self._requests.fallback[part]))
        detail: dict[str, Any] = {"requests_logged": logged, "fallbacks": fallbacks,
                                  "model_versions": self._requests.versions(window.since, window.until)}
        errors = None if self._server_errors is None else self._server_errors(window.since, window.until)
        if self._server_errors is not None:
            detail["server_errors_5xx"] = errors  # None: too few scrapes of /metrics cover the window yet
        errors = errors or 0.0
        return SLIReading(good=logged - fallbacks, total=logged + errors, detail=detail)


class LatencySLI:
    """Good: a request answered within `threshold_ms` (fallback answers included: the client waited)."""

    def __init__(self, requests: RequestLog, *, threshold_ms: float) -> None:
        self._requests, self._threshold_ms = requests, threshold_ms

    def read(self, window: Window) -> SLIReading:
        part = self._requests.bounds(window.since, window.until)
        latencies = self._requests.latency_ms[part]
        good = int(np.count_nonzero(latencies <= self._threshold_ms))
        p99 = float(np.quantile(latencies, 0.99)) if len(latencies) else None
        return SLIReading(good=good, total=len(latencies), value=p99, detail={
            "threshold_ms": self._threshold_ms, "p99_ms": p99,
            "model_versions": self._requests.versions(window.since, window.until)})


class FreshnessSLI:
    """Time slices: the window is cut into minutes (coarser past 10,000 slices); a slice is good when,
    at its end, the newest logged prediction was at most `max_age_s` old. `value` is the age at the
    window's end. The log must reach back `max_age_s` before the window (see `lookback`)."""

    def __init__(self, requests: RequestLog, *, max_age_s: float) -> None:
        self._requests, self._max_age_s = requests, max_age_s

    @property
    def lookback(self) -> timedelta:
        return timedelta(seconds=self._max_age_s)

    def read(self, window: Window) -> SLIReading:
        step_s = max(_MIN_SLICE_S, window.seconds / _MAX_SLICES)
        slices = max(1, math.ceil(window.seconds / step_s))
        until_us = to_us(window.until)
        ends = until_us - (np.arange(slices, dtype=np.int64) * int(step_s * 1e6))
        at = self._requests.at_us
        newest = np.searchsorted(at, ends, side="left") - 1  # the last request strictly before each slice end
        ages_s = np.where(newest >= 0, (ends - at[np.maximum(newest, 0)]) / 1e6, np.inf)
        good = int(np.count_nonzero(ages_s <= self._max_age_s))
        age_now = float(ages_s[0]) if math.isfinite(ages_s[0]) else None
        return SLIReading(good=good, total=slices, value=age_now, detail={
            "max_age_s": self._max_age_s, "newest_age_s": age_now, "slice_s": step_s})


# --- from the drift and quality modules ----------------------------------------


class QualitySLI:
    """One event per evaluation: good when the metric over the window meets the SLO's bound.
    Calls `assay.monitoring.quality.window_metric(project, model_ref, metric, since, until)`."""

    def __init__(self, project: Any, *, model_ref: str, metric: str, min_value: float | None,
                 max_value: float | None) -> None:
        self._project, self._model_ref, self._metric = project, model_ref, metric
        self._min, self._max = min_value, max_value

    def read(self, window: Window) -> SLIReading | NotEvaluated:
        try:
            from assay.monitoring.quality import window_metric
        except ImportError as exc:
            return NotEvaluated(f"quality monitoring is not available in this installation ({exc})")
        result = window_metric(self._project, self._model_ref, self._metric, window.since, window.until)
        if not result.enough or result.value is None:
            return NotEvaluated(f"not enough labelled predictions for {self._metric} ({result.n}) in the last {window.label}")
        value = float(result.value)
        good = (self._min is None or value >= self._min) and (self._max is None or value <= self._max)
        return SLIReading(good=1.0 if good else 0.0, total=1.0, value=value, detail={
            "metric": self._metric, "value": value, "n": result.n, "low": result.low, "high": result.high,
            "min": self._min, "max": self._max})


class DriftSLI:
    """One event per evaluation: good when the window's inputs have not drifted from the reference.
    `current(since, until)` gives the window's logged inputs; `reference()` the frame they are judged
    against; `assay.monitoring.drift.compare_frames` decides (its report's `.drifted`)."""

    def __init__(self, *, reference: Callable[[], Any], current: Callable[[datetime, datetime], Any],
                 policy: Any) -> None:
        self._reference, self._current, self._policy = reference, current, policy

    def read(self, window: Window) -> SLIReading | NotEvaluated:
        try:
            from assay.monitoring.drift import compare_frames
        except ImportError as exc:
            return NotEvaluated(f"drift monitoring is not available in this installation ({exc})")
        report = compare_frames(self._reference(), self._current(window.since, window.until), policy=self._policy)
        drifted = bool(report.drifted)
        return SLIReading(good=0.0 if drifted else 1.0, total=1.0, detail={"drifted": drifted})


__all__ = [
    "AvailabilitySLI",
    "DriftSLI",
    "FreshnessSLI",
    "LatencySLI",
    "NotEvaluated",
    "QualitySLI",
    "SLIProvider",
    "SLIReading",
    "Window",
]
