"""Batch scoring: a registered model over a large input, chunked, idempotent and resumable, on this
machine's cores or on a Ray cluster (see docs/scoring.md).

Names load on first use, so `import assay.batch` (the CLI does) does not import the model stack.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DEFAULT_CHUNK_ROWS": "assay.batch.options",
    "RetryPolicy": "assay.batch.options",
    "ScoreOptions": "assay.batch.options",
    "ChunkFailedError": "assay.batch.errors",
    "EngineUnavailableError": "assay.batch.errors",
    "OutputConflictError": "assay.batch.errors",
    "ScoringError": "assay.batch.errors",
    "Engine": "assay.batch.job",
    "ScoreSummary": "assay.batch.job",
    "score": "assay.batch.job",
    "LocalEngine": "assay.batch.local",
    "available_cores": "assay.batch.local",
    "RayEngine": "assay.batch.ray_engine",
}

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "ChunkFailedError",
    "Engine",
    "EngineUnavailableError",
    "LocalEngine",
    "OutputConflictError",
    "RetryPolicy",
    "ScoreOptions",
    "ScoreSummary",
    "ScoringError",
    "available_cores",
    "score",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assay.batch' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
