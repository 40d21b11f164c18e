"""Online serving: the ASGI service (`create_app`), micro-batching with deadlines and load
shedding, fallbacks, shadow and canary routing with guards, the prediction log, metrics and cache.

Names load on first use, so reading the prediction log (monitoring does) does not import the server.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ServingApp": "assay.serving.app",
    "create_app": "assay.serving.app",
    "BatcherUnavailableError": "assay.serving.batcher",
    "BatchStats": "assay.serving.batcher",
    "DeadlineExceededError": "assay.serving.batcher",
    "InvalidRequestError": "assay.serving.batcher",
    "MicroBatcher": "assay.serving.batcher",
    "ModelError": "assay.serving.batcher",
    "QueueFullError": "assay.serving.batcher",
    "RequestTooLargeError": "assay.serving.batcher",
    "ServingError": "assay.serving.batcher",
    "LocalCache": "assay.serving.cache",
    "PredictionCache": "assay.serving.cache",
    "RedisCache": "assay.serving.cache",
    "row_keys": "assay.serving.cache",
    "Breach": "assay.serving.guard",
    "CanaryGuard": "assay.serving.guard",
    "GRAFANA_QUERIES": "assay.serving.metrics",
    "ServingMetrics": "assay.serving.metrics",
    "PredictionLog": "assay.serving.predlog",
    "PredictionRecord": "assay.serving.predlog",
    "read_prediction_log": "assay.serving.predlog",
    "RequestValidationError": "assay.serving.request",
    "RowBlock": "assay.serving.request",
    "RowSchema": "assay.serving.request",
    "ModelUnavailableError": "assay.serving.runtime",
    "Routes": "assay.serving.runtime",
    "RouteTable": "assay.serving.runtime",
    "ServedModel": "assay.serving.runtime",
    "ServeOptions": "assay.serving.service",
    "Service": "assay.serving.service",
}

__all__ = [
    "GRAFANA_QUERIES",
    "BatchStats",
    "BatcherUnavailableError",
    "Breach",
    "CanaryGuard",
    "DeadlineExceededError",
    "InvalidRequestError",
    "LocalCache",
    "MicroBatcher",
    "ModelError",
    "ModelUnavailableError",
    "PredictionCache",
    "PredictionLog",
    "PredictionRecord",
    "QueueFullError",
    "RedisCache",
    "RequestTooLargeError",
    "RequestValidationError",
    "RouteTable",
    "Routes",
    "RowBlock",
    "RowSchema",
    "ServeOptions",
    "ServedModel",
    "Service",
    "ServingApp",
    "ServingError",
    "ServingMetrics",
    "create_app",
    "read_prediction_log",
    "row_keys",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assay.serving' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
