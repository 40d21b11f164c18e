"""Shared by the evaluate workers: the deterministic synthetic predictions, and printing the result.

numpy only, so the data is built the same way in every worker (assay's and the scikit-learn baseline's).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

SEED = 20261128
POSITIVE_RATE = 0.15  # about this share of positive labels
METRIC_NAMES = ("roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "f1")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _split(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    """Labels from a latent signal; the candidate's and the (slightly worse) champion's scores are
    logistic models of that signal seen through independent noise (ROC AUC about 0.81 and 0.80; about 15% positives)."""
    latent = rng.standard_normal(rows)
    labels = (rng.random(rows) < _sigmoid(2.0 * latent - 2.75)).astype(np.int64)
    candidate = _sigmoid(1.1 * (latent + 0.7 * rng.standard_normal(rows)) - 2.0)
    champion = _sigmoid(1.0 * (latent + 0.78 * rng.standard_normal(rows)) - 2.0)
    return {"labels": labels, "candidate": candidate, "champion": champion,
            "sensitive": rng.choice(np.array(["a", "b", "c"]), size=rows, p=[0.5, 0.3, 0.2]),
            "segment": rng.choice(np.array(["web", "store", "phone", "partner"]), size=rows, p=[0.4, 0.3, 0.2, 0.1])}


def make_data(test_rows: int) -> dict[str, dict[str, np.ndarray]]:
    """{'test': ..., 'validation': ...}: `test_rows` test rows and test_rows // 4 validation rows."""
    rng = np.random.default_rng(SEED)
    return {"test": _split(rng, test_rows), "validation": _split(rng, test_rows // 4)}


def proba(scores: np.ndarray) -> np.ndarray:
    """Two-column class probabilities from positive-class scores."""
    return np.column_stack([1.0 - scores, scores])


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result))


def fail(message: str) -> None:
    print(f"evaluate worker: WRONG RESULT: {message}", file=sys.stderr)
    raise SystemExit(3)
