"""Prometheus metrics of the online server, and the Grafana queries that read them.

Every recorder is a few dict look-ups and float additions, cheap enough for the event loop.
Each `ServingMetrics` owns its own `CollectorRegistry` (never prometheus_client's global
one), so tests and several apps in one process do not clash.

Label cardinality stays bounded because every label value comes from a small set:
``endpoint``, ``kind`` and ``reason`` are fixed strings chosen at the call sites (never
user input or exception text), ``status`` is an HTTP status code, ``route`` is a
configured route name, and ``model_version`` names a registered version such as
``"credit-default:3"``; only the few versions being served appear at a time.

Several workers (``assay serve --workers N`` with N > 1): prometheus_client keeps values
in memory-mapped files, one set per process, when ``PROMETHEUS_MULTIPROC_DIR`` names an
empty directory *before the worker imports prometheus_client* (the switch is
process-wide and read at import). The server sets that variable and empties the
directory before it starts the workers; each worker builds its `ServingMetrics` with that
directory (the default when the variable is set), and `render()` then sums every
worker's files with `MultiProcessCollector`. In that mode gauges aggregate across
workers: queue rows are summed over live workers (``livesum``), model info takes the
maximum (``livemax``); a replaced model-info series drops to 0 rather than vanishing,
because values written to the files cannot be deleted.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector

_ENV_MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
_BATCH_BUCKETS = tuple(float(2**i) for i in range(11))  # 1, 2, 4, ..., 1024


class ServingMetrics:
    """The serving metrics, recorded per request or per batch and rendered for ``GET /metrics``.

    `multiprocess_dir` defaults to ``$PROMETHEUS_MULTIPROC_DIR``; when set, it must be the
    directory prometheus_client writes to in this process (see the module docstring), and
    `render()` aggregates every worker's values from it.
    """

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        namespace: str = "assay",
        multiprocess_dir: str | None = None,
    ) -> None:
        env_dir = os.environ.get(_ENV_MULTIPROC_DIR)  # prometheus_client's own process-wide switch
        self._multiprocess_dir = multiprocess_dir if multiprocess_dir is not None else env_dir
        if self._multiprocess_dir is not None:
            _check_multiprocess_setup(self._multiprocess_dir, env_dir)
        self._registry = registry if registry is not None else CollectorRegistry()
        self._model_info_lock = threading.Lock()
        self._model_info_labels: dict[str, tuple[str, str, str]] = {}
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        reg, ns = self._registry, namespace

        self._request_duration = Histogram(
            "request_duration_seconds", "Latency of predict requests, from arrival to response.",
            ["model_version", "route"], namespace=ns, registry=reg, buckets=_LATENCY_BUCKETS_S,
        )
        self._requests = Counter(
            "requests", "Requests answered, by endpoint and HTTP status.",
            ["endpoint", "status"], namespace=ns, registry=reg,
        )
        self._predicted_rows = Counter(
            "predicted_rows", "Rows predicted.", ["model_version", "route"], namespace=ns, registry=reg,
        )
        self._errors = Counter("errors", "Failed requests, by kind of failure.", ["kind"], namespace=ns, registry=reg)
        self._fallbacks = Counter(
            "fallbacks", "Requests answered by the fallback instead of the model.",
            ["reason", "model_version"], namespace=ns, registry=reg,
        )
        self._shed = Counter(
            "shed_requests", "Requests refused because the queue was full.", namespace=ns, registry=reg,
        )
        self._batch_rows = Histogram(
            "batch_rows", "Rows per model batch.", ["model_version"],
            namespace=ns, registry=reg, buckets=_BATCH_BUCKETS,
        )
        self._batch_requests = Histogram(
            "batch_requests", "Requests coalesced into one model batch.", ["model_version"],
            namespace=ns, registry=reg, buckets=_BATCH_BUCKETS,
        )
        self._batch_duration = Histogram(
            "batch_duration_seconds", "Time the model took to predict one batch.", ["model_version"],
            namespace=ns, registry=reg, buckets=_LATENCY_BUCKETS_S,
        )
        self._queue_rows = Gauge(
            "queue_rows", "Rows waiting for a batch.", ["model_version"],
            namespace=ns, registry=reg, multiprocess_mode="livesum",
        )
        self._cache_hits = Counter("cache_hits", "Rows answered from the prediction cache.", namespace=ns, registry=reg)
        self._cache_misses = Counter(
            "cache_misses", "Rows looked up in the prediction cache and not found.", namespace=ns, registry=reg,
        )
        self._cache_errors = Counter(
            "cache_errors", "Prediction cache operations that failed (treated as misses).", namespace=ns, registry=reg,
        )
        self._model_info = Gauge(
            "model_info", "1 for the model version each route serves.", ["route", "model", "version"],
            namespace=ns, registry=reg, multiprocess_mode="livemax",
        )
        self._canary_rollbacks = Counter(
            "canary_rollbacks", "Canary versions rolled back automatically, by reason.",
            ["reason"], namespace=ns, registry=reg,
        )

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, memoised: label lookup is the costly part of a hot-path observation."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    @property
    def registry(self) -> CollectorRegistry:
        """The registry these metrics are registered in (this process's values only)."""
        return self._registry

    # --- recorders -----------------------------------------------------------

    def observe_request(self, *, endpoint: str, status: int, model_version: str, route: str, latency_s: float) -> None:
        """Count one answered request; a ``predict`` request's latency also goes into the histogram."""
        self._child(self._requests, endpoint, str(status)).inc()
        if endpoint == "predict":
            self._child(self._request_duration, model_version, route).observe(latency_s)

    def observe_rows(self, *, model_version: str, route: str, rows: int) -> None:
        self._child(self._predicted_rows, model_version, route).inc(rows)

    def observe_error(self, kind: str) -> None:
        """Count a failure; `kind` is one of a fixed set ("validation", "auth", "model-error", ...)."""
        self._errors.labels(kind=kind).inc()

    def observe_fallback(self, *, reason: str, model_version: str) -> None:
        self._fallbacks.labels(reason=reason, model_version=model_version).inc()

    def observe_shed(self) -> None:
        self._shed.inc()

    def observe_batch(self, *, model_version: str, rows: int, requests: int, run_s: float) -> None:
        self._child(self._batch_rows, model_version).observe(rows)
        self._child(self._batch_requests, model_version).observe(requests)
        self._child(self._batch_duration, model_version).observe(run_s)

    def set_queue_rows(self, model_version: str, rows: int) -> None:
        self._child(self._queue_rows, model_version).set(rows)

    def observe_cache(self, *, hits: int, misses: int, errors: int = 0) -> None:
        """Add one lookup's counts of cache hits, misses and failed cache operations."""
        if hits:
            self._cache_hits.inc(hits)
        if misses:
            self._cache_misses.inc(misses)
        if errors:
            self._cache_errors.inc(errors)

    def set_model_info(self, *, route: str, model: str, version: int | None) -> None:
        """Mark the version `route` serves; the route's previous series goes, and `None` removes it."""
        new = None if version is None else (route, model, str(version))
        with self._model_info_lock:
            old = self._model_info_labels.pop(route, None)
            if old is not None and old != new:
                self._model_info.labels(*old).set(0)  # what multiprocess files keep after remove()
                self._model_info.remove(*old)
            if new is not None:
                self._model_info.labels(*new).set(1)
                self._model_info_labels[route] = new

    def observe_canary_rollback(self, reason: str) -> None:
        self._canary_rollbacks.labels(reason=reason).inc()

    # --- exposition ----------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type; every worker's values in multiprocess mode."""
        if self._multiprocess_dir is None:
            return prometheus_client.generate_latest(self._registry), prometheus_client.CONTENT_TYPE_LATEST
        collected = CollectorRegistry()
        MultiProcessCollector(collected, path=self._multiprocess_dir)  # type: ignore[no-untyped-call]
        return prometheus_client.generate_latest(collected), prometheus_client.CONTENT_TYPE_LATEST


def _check_multiprocess_setup(directory: str, env_dir: str | None) -> None:
    """Refuse a multiprocess directory prometheus_client is not actually writing to."""
    hint = (
        f"set {_ENV_MULTIPROC_DIR}={directory} in the environment before the worker process starts "
        "(`assay serve --workers N` does this), or pass multiprocess_dir=None for a single process"
    )
    if not os.path.isdir(directory):
        raise ValueError(f"the metrics multiprocess directory {directory!r} is not a directory; {hint}")
    if env_dir is None or os.path.realpath(env_dir) != os.path.realpath(directory):
        raise ValueError(
            f"metrics multiprocess_dir={directory!r} but prometheus_client writes to "
            f"{_ENV_MULTIPROC_DIR}={env_dir!r}; {hint}"
        )
    if not getattr(values.ValueClass, "_multiprocess", False):
        raise ValueError(
            f"prometheus_client was imported before {_ENV_MULTIPROC_DIR} was set, so it keeps values "
            f"in memory and other workers cannot see them; {hint}"
        )


def _latency_quantile(q: float) -> tuple[str, str]:
    return (
        f"p{round(q * 100)} predict latency by version and route (s)",
        "histogram_quantile("
        f"{q}, sum by (le, model_version, route) (rate(assay_request_duration_seconds_bucket[5m])))",
    )


# (title, PromQL) panels to paste into Grafana; they assume the default namespace "assay".
GRAFANA_QUERIES: tuple[tuple[str, str], ...] = (
    _latency_quantile(0.5),
    _latency_quantile(0.95),
    _latency_quantile(0.99),
    ("Requests per second by endpoint and status", "sum by (endpoint, status) (rate(assay_requests_total[5m]))"),
    (
        "Predicted rows per second by version and route",
        "sum by (model_version, route) (rate(assay_predicted_rows_total[5m]))",
    ),
    ("Errors per second by kind", "sum by (kind) (rate(assay_errors_total[5m]))"),
    (
        "Error ratio (errors per request)",
        "sum(rate(assay_errors_total[5m])) / sum(rate(assay_requests_total[5m]))",
    ),
    (
        "Fallbacks per second by reason and version",
        "sum by (reason, model_version) (rate(assay_fallbacks_total[5m]))",
    ),
    ("Shed requests per second", "sum(rate(assay_shed_requests_total[5m]))"),
    (
        "Mean batch size (rows) by version",
        "sum by (model_version) (rate(assay_batch_rows_sum[5m])) "
        "/ sum by (model_version) (rate(assay_batch_rows_count[5m]))",
    ),
    (
        "Mean requests per batch by version",
        "sum by (model_version) (rate(assay_batch_requests_sum[5m])) "
        "/ sum by (model_version) (rate(assay_batch_requests_count[5m]))",
    ),
    (
        "p95 batch run time by version (s)",
        "histogram_quantile(0.95, sum by (le, model_version) (rate(assay_batch_duration_seconds_bucket[5m])))",
    ),
    ("Queue depth (rows) by version", "sum by (model_version) (assay_queue_rows)"),
    (
        "Cache hit ratio",
        "sum(rate(assay_cache_hits_total[5m])) "
        "/ (sum(rate(assay_cache_hits_total[5m])) + sum(rate(assay_cache_misses_total[5m])))",
    ),
    ("Cache errors per second", "sum(rate(assay_cache_errors_total[5m]))"),
    ("Canary rollbacks in the last hour by reason", "sum by (reason) (increase(assay_canary_rollbacks_total[1h]))"),
    ("Served model versions", "max by (route, model, version) (assay_model_info) == 1"),
)
