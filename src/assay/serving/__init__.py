"""Online serving: adaptive micro-batching of prediction requests, with deadlines and load shedding."""

from __future__ import annotations

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

__all__ = [
    "BatchStats",
    "BatcherUnavailableError",
    "DeadlineExceededError",
    "InvalidRequestError",
    "MicroBatcher",
    "ModelError",
    "QueueFullError",
    "RequestTooLargeError",
    "ServingError",
]
