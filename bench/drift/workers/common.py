"""Shared by the drift workers: the JSON line each prints and how each stops on a wrong result. Stdlib only,
so it runs in the project's interpreter and in the separate Evidently virtualenv alike."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit(result: dict[str, Any]) -> None:
    """The worker's result: one JSON object on the last line of stdout (the benchmark reads that)."""
    print(json.dumps(result))


def fail(message: str) -> None:
    print(f"drift worker: {message}", file=sys.stderr)
    raise SystemExit(3)
