"""Canary guards: the canary's error rate, fallback rate, P99 latency and score distribution,
compared with the spec's limits (and with production) over a sliding window.

`CanaryGuard.record` is called for every answered request on the event loop (O(1)); `check`
runs every `check_interval_s` and returns the first breach, or None. The server rolls the canary
back on a breach. Each replica judges the traffic it saw; a rollback is a change of the shared
deployment state, so one replica's breach takes the canary out of every replica.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from assay.data.drift import psi
from assay.spec.serving import CanaryGuards

_MAX_EVENTS = 200_000  # per route: bounds memory whatever the traffic
_PSI_BINS = 10
_MIN_SCORES = 50  # per side, for the score-shift guard


@dataclass(frozen=True, slots=True)
class Breach:
    guard: str  # "error_rate", "fallback_rate", "p99_latency", "p99_ratio", "score_psi"
    observed: float
    limit: float
    requests: int

    @property
    def reason(self) -> str:
        units = "ms" if self.guard.startswith("p99_l") else ""
        return (f"canary guard {self.guard} breached: {self.observed:.4g}{units} > {self.limit:.4g}{units} "
                f"over {self.requests} canary requests")


class _Window:
    def __init__(self) -> None:
        self.events: deque[tuple[float, float, bool, bool]] = deque(maxlen=_MAX_EVENTS)  # (t, latency_s, failed, fallback)
        self.scores: deque[tuple[float, float]] = deque(maxlen=_MAX_EVENTS)

    def trim(self, since: float) -> None:
        while self.events and self.events[0][0] < since:
            self.events.popleft()
        while self.scores and self.scores[0][0] < since:
            self.scores.popleft()


class CanaryGuard:
    def __init__(self, limits: CanaryGuards, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._windows = {"production": _Window(), "canary": _Window()}

    def reset(self) -> None:
        """Forget what was seen (a new canary starts with a clean slate)."""
        self._windows = {"production": _Window(), "canary": _Window()}

    def record(self, route: str, *, latency_s: float, failed: bool, fallback: bool,
               scores: np.ndarray | None = None) -> None:
        window = self._windows.get(route)
        if window is None:
            return
        now = self._clock()
        window.events.append((now, latency_s, failed, fallback))
        if scores is not None and not fallback:
            window.scores.extend((now, float(s)) for s in scores[:64])  # bounded per request

    def canary_requests(self) -> int:
        return len(self._windows["canary"].events)

    def check(self) -> Breach | None:
        """The first guard the canary breaches over the window, or None (also while too few requests)."""
        since = self._clock() - self.limits.window_s
        for window in self._windows.values():
            window.trim(since)
        canary, production = self._windows["canary"], self._windows["production"]
        n = len(canary.events)
        if n < self.limits.min_requests:
            return None
        failed = sum(1 for e in canary.events if e[2])
        fallback = sum(1 for e in canary.events if e[3])
        latencies = np.fromiter((e[1] for e in canary.events), dtype=np.float64, count=n)
        p99_ms = float(np.quantile(latencies, 0.99)) * 1000
        checks: list[tuple[str, float, float]] = [
            ("error_rate", failed / n, self.limits.max_error_rate),
            ("fallback_rate", fallback / n, self.limits.max_fallback_rate),
            ("p99_latency", p99_ms, self.limits.max_p99_ms),
        ]
        if self.limits.max_p99_ratio is not None and len(production.events) >= self.limits.min_requests:
            base = float(np.quantile([e[1] for e in production.events], 0.99)) * 1000
            if base > 0:
                checks.append(("p99_ratio", p99_ms / base, self.limits.max_p99_ratio))
        shift = score_psi(production.scores, canary.scores)
        if shift is not None:
            checks.append(("score_psi", shift, self.limits.max_score_psi))
        for guard, observed, limit in checks:
            if observed > limit:
                return Breach(guard, observed, limit, n)
        return None


def score_psi(reference: deque[tuple[float, float]], current: deque[tuple[float, float]]) -> float | None:
    """PSI of current scores against reference scores on the reference's decile bins; None when
    either side has fewer than 50 scores."""
    if len(reference) < _MIN_SCORES or len(current) < _MIN_SCORES:
        return None
    ref = np.fromiter((s for _, s in reference), dtype=np.float64)
    cur = np.fromiter((s for _, s in current), dtype=np.float64)
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, _PSI_BINS + 1)[1:-1]))
    expected = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
    actual = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1)
    return psi(expected, actual)


__all__ = ["Breach", "CanaryGuard", "score_psi"]
