"""The flavor contract: how a model library is fitted, saved, loaded and asked for predictions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from assay.spec.model import ModelSpec


@dataclass(frozen=True, slots=True)
class FitRequest:
    """Everything a flavor needs to fit: the model frame, encoded labels and the recorded context."""

    X: pd.DataFrame
    y: np.ndarray  # classification: class indices 0..K-1; regression: floats
    model: ModelSpec
    task: str
    classes: tuple[Any, ...]
    categorical: tuple[str, ...]
    seed: int
    project_dir: Path


@dataclass(frozen=True, slots=True)
class FittedModel:
    """A fitted model in memory, with the resolved configuration the run records."""

    flavor: str
    model: Any
    resolved: Mapping[str, Any] = field(default_factory=dict)


class LoadedModel(Protocol):
    flavor: str

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Classification: probabilities, shape (n, K). Regression: values, shape (n,)."""


class Flavor(Protocol):
    name: str

    def fit(self, request: FitRequest) -> FittedModel: ...
    def dumps(self, fitted: FittedModel, *, signature: Mapping[str, Any]) -> bytes:
        """Serialise to bytes that are identical for identical models where the library allows it."""

    def loads(self, data: bytes, *, signature: Mapping[str, Any], trusted_modules: tuple[str, ...]) -> LoadedModel: ...
    def as_loaded(self, fitted: FittedModel, *, signature: Mapping[str, Any]) -> LoadedModel:
        """The in-memory fitted model behind the same predict() a loaded artifact offers."""


def task_of(signature: Mapping[str, Any]) -> str:
    return "classification" if signature["output"]["kind"] == "probability" else "regression"


def as_probabilities(raw: np.ndarray) -> np.ndarray:
    """Normalise binary outputs of shape (n,) to (n, 2)."""
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 1:
        return np.column_stack([1.0 - raw, raw])
    return raw


__all__ = ["FitRequest", "FittedModel", "Flavor", "LoadedModel", "as_probabilities", "task_of"]
