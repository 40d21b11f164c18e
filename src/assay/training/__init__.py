"""Reproducible training runs: flavors, seeding, environment capture, signatures."""

from __future__ import annotations

from assay.training.environment import capture_environment, diff_code, diff_environments
from assay.training.flavors import FLAVORS, LoadedModel, get_flavor
from assay.training.signature import build_signature, to_model_frame
from assay.training.trainer import (
    TrainedModel,
    load_model,
    predictions_from_bytes,
    predictions_to_bytes,
    seeded,
    train,
)

__all__ = [
    "FLAVORS",
    "LoadedModel",
    "TrainedModel",
    "build_signature",
    "capture_environment",
    "diff_code",
    "diff_environments",
    "get_flavor",
    "load_model",
    "predictions_from_bytes",
    "predictions_to_bytes",
    "seeded",
    "to_model_frame",
    "train",
]
