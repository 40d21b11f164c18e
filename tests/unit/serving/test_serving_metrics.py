"""ServingMetrics: what GET /metrics exposes after recording, multiprocess aggregation, the Grafana queries."""

from __future__ import annotations

import multiprocessing
import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, values
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from assay.serving.metrics import GRAFANA_QUERIES, ServingMetrics


def samples(metrics: ServingMetrics) -> list[Sample]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return [s for family in text_string_to_metric_families(body.decode("utf-8")) for s in family.samples]


def value(metrics: ServingMetrics, name: str, **labels: str) -> float | None:
    """The value of the one sample called `name` with exactly these labels, None if absent."""
    found = [s.value for s in samples(metrics) if s.name == name and s.labels == labels]
    assert len(found) <= 1
    return found[0] if found else None


@pytest.fixture
def metrics(monkeypatch: pytest.MonkeyPatch) -> ServingMetrics:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    return ServingMetrics()


def record_everything(m: ServingMetrics) -> None:
    m.observe_request(endpoint="predict", status=200, model_version="credit-default:3", route="main", latency_s=0.004)
    m.observe_rows(model_version="credit-default:3", route="main", rows=5)
    m.observe_error("validation")
    m.observe_fallback(reason="timeout", model_version="credit-default:3")
    m.observe_shed()
    m.observe_batch(model_version="credit-default:3", rows=12, requests=3, run_s=0.008)
    m.set_queue_rows("credit-default:3", 7)
    m.observe_cache(hits=3, misses=2, errors=1)
    m.set_model_info(route="main", model="credit-default", version=3)
    m.observe_canary_rollback("error-rate")


def test_each_instance_has_its_own_registry(metrics: ServingMetrics) -> None:
    other = ServingMetrics()
    metrics.observe_shed()
    assert value(metrics, "assay_shed_requests_total") == 1
    assert value(other, "assay_shed_requests_total") == 0
    assert isinstance(metrics.registry, CollectorRegistry)


def test_recorded_series_carry_their_labels_and_values(metrics: ServingMetrics) -> None:
    record_everything(metrics)
    record_everything(metrics)
    version = {"model_version": "credit-default:3"}
    assert value(metrics, "assay_requests_total", endpoint="predict", status="200") == 2
    assert value(metrics, "assay_request_duration_seconds_count", **version, route="main") == 2
    assert value(metrics, "assay_predicted_rows_total", **version, route="main") == 10
    assert value(metrics, "assay_errors_total", kind="validation") == 2
    assert value(metrics, "assay_fallbacks_total", reason="timeout", **version) == 2
    assert value(metrics, "assay_shed_requests_total") == 2
    assert value(metrics, "assay_batch_rows_sum", **version) == 24
    assert value(metrics, "assay_batch_requests_count", **version) == 2
    assert value(metrics, "assay_batch_duration_seconds_sum", **version) == pytest.approx(0.016)
    assert value(metrics, "assay_queue_rows", **version) == 7
    assert value(metrics, "assay_cache_hits_total") == 6
    assert value(metrics, "assay_cache_misses_total") == 4
    assert value(metrics, "assay_cache_errors_total") == 2
    assert value(metrics, "assay_model_info", route="main", model="credit-default", version="3") == 1
    assert value(metrics, "assay_canary_rollbacks_total", reason="error-rate") == 2


def test_only_predict_requests_enter_the_latency_histogram(metrics: ServingMetrics) -> None:
    metrics.observe_request(endpoint="health", status=200, model_version="", route="", latency_s=0.001)
    metrics.observe_request(endpoint="predict", status=422, model_version="m:1", route="main", latency_s=0.001)
    assert value(metrics, "assay_requests_total", endpoint="health", status="200") == 1
    assert value(metrics, "assay_requests_total", endpoint="predict", status="422") == 1
    histogram_counts = [s for s in samples(metrics) if s.name == "assay_request_duration_seconds_count"]
    assert [(s.labels, s.value) for s in histogram_counts] == [({"model_version": "m:1", "route": "main"}, 1)]


def test_latency_buckets_count_cumulatively(metrics: ServingMetrics) -> None:
    for latency_s in (0.0003, 0.0015, 0.003, 0.3, 10.0):
        metrics.observe_request(endpoint="predict", status=200, model_version="m:1", route="main", latency_s=latency_s)
    buckets = {
        s.labels["le"]: s.value
        for s in samples(metrics)
        if s.name == "assay_request_duration_seconds_bucket" and s.labels["model_version"] == "m:1"
    }
    expected_bounds = ["0.0005", "0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5",
                       "1.0", "2.0", "5.0", "+Inf"]
    assert list(buckets) == expected_bounds
    assert buckets == dict(zip(expected_bounds, [1, 1, 2, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 5], strict=True))
    assert value(metrics, "assay_request_duration_seconds_sum", model_version="m:1", route="main") == pytest.approx(
        10.3048
    )


def test_batch_size_buckets_are_powers_of_two(metrics: ServingMetrics) -> None:
    metrics.observe_batch(model_version="m:1", rows=3, requests=1, run_s=0.001)
    metrics.observe_batch(model_version="m:1", rows=2000, requests=1, run_s=0.001)
    buckets = {s.labels["le"]: s.value for s in samples(metrics) if s.name == "assay_batch_rows_bucket"}
    assert list(buckets) == [f"{float(2**i)}" for i in range(11)] + ["+Inf"]
    assert (buckets["2.0"], buckets["4.0"], buckets["1024.0"], buckets["+Inf"]) == (0, 1, 1, 2)


def test_replacing_a_routes_model_removes_its_old_series(metrics: ServingMetrics) -> None:
    metrics.set_model_info(route="main", model="credit-default", version=3)
    metrics.set_model_info(route="canary", model="credit-default", version=4)
    metrics.set_model_info(route="main", model="credit-default", version=4)
    info = [(s.labels, s.value) for s in samples(metrics) if s.name == "assay_model_info"]
    assert sorted(info, key=lambda pair: pair[0]["route"]) == [
        ({"route": "canary", "model": "credit-default", "version": "4"}, 1),
        ({"route": "main", "model": "credit-default", "version": "4"}, 1),
    ]
    metrics.set_model_info(route="canary", model="credit-default", version=None)
    info = [s.labels["route"] for s in samples(metrics) if s.name == "assay_model_info"]
    assert info == ["main"]


def test_queue_rows_is_a_gauge_that_goes_down(metrics: ServingMetrics) -> None:
    metrics.set_queue_rows("m:1", 40)
    metrics.set_queue_rows("m:1", 0)
    assert value(metrics, "assay_queue_rows", model_version="m:1") == 0


def test_namespace_prefixes_every_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics = ServingMetrics(namespace="shop")
    record_everything(metrics)
    assert all(s.name.startswith("shop_") for s in samples(metrics))


def test_grafana_queries_use_only_exposed_series(metrics: ServingMetrics) -> None:
    record_everything(metrics)
    exposed = {s.name for s in samples(metrics)}
    promql_words = {"sum", "by", "rate", "increase", "histogram_quantile", "max"}
    titles = [title for title, _ in GRAFANA_QUERIES]
    assert len(titles) == len(set(titles))
    for title, query in GRAFANA_QUERIES:
        names = set(re.findall(r"\b[a-z_][a-z0-9_]*\b", query)) - promql_words
        series = {name for name in names if name.startswith("assay_")}
        assert series, f"{title}: no metric in {query!r}"
        # Label names used in `by (...)` are the rest; they must be labels of the queried series.
        labels = names - series
        exposed_labels = {label for s in samples(metrics) if s.name in series for label in s.labels}
        assert series <= exposed, f"{title}: {sorted(series - exposed)} not exposed"
        assert labels <= exposed_labels, f"{title}: labels {sorted(labels - exposed_labels)} not on {sorted(series)}"


def test_grafana_queries_cover_the_dashboard() -> None:
    text = " ".join(query for _, query in GRAFANA_QUERIES)
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le, model_version, route)" in text
    for family in ("requests_total", "errors_total", "fallbacks_total", "shed_requests_total", "batch_rows_sum",
                   "queue_rows", "cache_hits_total", "canary_rollbacks_total"):
        assert f"assay_{family}" in text


# --- multiprocess mode ----------------------------------------------------------


def _worker(requests: int, queue_rows: int) -> None:
    """Runs in a spawned process: PROMETHEUS_MULTIPROC_DIR is inherited, so prometheus_client writes files."""
    metrics = ServingMetrics()
    for _ in range(requests):
        metrics.observe_request(endpoint="predict", status=200, model_version="m:1", route="main", latency_s=0.003)
    metrics.set_queue_rows("m:1", queue_rows)
    metrics.set_model_info(route="main", model="m", version=1)


def test_render_sums_every_workers_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_worker, args=(n, n * 10)) for n in (3, 4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert len({path.name.rsplit("_", 1)[1] for path in tmp_path.glob("counter_*.db")}) == 2  # one file per pid

    # This process imported prometheus_client before the variable was set; switch it the way its own tests do.
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    try:
        parent = ServingMetrics(multiprocess_dir=str(tmp_path))
        parent.observe_request(endpoint="predict", status=200, model_version="m:1", route="main", latency_s=0.003)
        assert value(parent, "assay_requests_total", endpoint="predict", status="200") == 8
        assert value(parent, "assay_request_duration_seconds_count", model_version="m:1", route="main") == 8
        bucket = {"model_version": "m:1", "route": "main", "le": "0.005"}
        assert value(parent, "assay_request_duration_seconds_bucket", **bucket) == 8
        assert value(parent, "assay_queue_rows", model_version="m:1") == 70
        assert value(parent, "assay_model_info", route="main", model="m", version="1") == 1
    finally:
        values.close_all_multiprocess_files()


def test_multiprocess_dir_that_prometheus_client_does_not_write_to_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with pytest.raises(ValueError, match="PROMETHEUS_MULTIPROC_DIR"):
        ServingMetrics(multiprocess_dir=str(tmp_path))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="imported before"):  # this process's prometheus_client is in memory mode
        ServingMetrics()
    with pytest.raises(ValueError, match="not a directory"):
        ServingMetrics(multiprocess_dir=str(tmp_path / "missing"))
