"""Online serving: the ASGI service (`create_app`), micro-batching with deadlines and load
shedding, fallbacks, shadow and canary routing with guards, the prediction log, metrics and cache."""

from __future__ import annotations

from assay.serving.app import ServingApp, create_app
from assay.serving.batcher import (
    BatcherUnavailableError,
    BatchStats,
    DeadlineExceededError,
    InvalidRequestError,
    MicroBatcher,
    ModelError,
    QueueFullError,
    RequestTooLargeError,
    ServingError,
)
from assay.serving.cache import LocalCache, PredictionCache, RedisCache, row_keys
from assay.serving.guard import Breach, CanaryGuard
from assay.serving.metrics import GRAFANA_QUERIES, ServingMetrics
from assay.serving.predlog import PredictionLog, PredictionRecord, read_prediction_log
from assay.serving.request import RequestValidationError, RowBlock, RowSchema
from assay.serving.runtime import ModelUnavailableError, Routes, RouteTable, ServedModel
from assay.serving.service import ServeOptions, Service

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
