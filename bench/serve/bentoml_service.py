"""The BentoML target: the registered model behind a BentoML 1.4 service with adaptive batching.
Runs in the BentoML venv (bench/setup-bentoml-venv.sh), which has Assay installed, so the model is
loaded by the same `load_registered` as every other target.

    BENCH_SERVE_PROJECT=DIR bentoml serve bentoml_service:CreditModel --host 127.0.0.1 --port PORT
    (cwd bench/serve)

Requests have the same shape as Assay's: `POST /predict` with `{"rows": [{column: value, ...}, ...]}`
(`rows` is the API's one argument). The API is `batchable=True` over `rows` (batch_dim 0): BentoML's
dispatcher concatenates the `rows` lists of concurrent requests into one call (at most
MAX_BATCH_ROWS rows, waiting at most MAX_LATENCY_MS), then splits the answer back per request.
Answers are a JSON list with one positive-class probability per row. One worker; `GET /readyz`
is BentoML's own readiness probe.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import bentoml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from model import open_model  # noqa: E402

MAX_BATCH_ROWS = 2000
MAX_LATENCY_MS = 1000


@bentoml.service(workers=1, traffic={"timeout": 60})
class CreditModel:
    def __init__(self) -> None:
        self.model = open_model(os.environ["BENCH_SERVE_PROJECT"])

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=MAX_BATCH_ROWS, max_latency_ms=MAX_LATENCY_MS)
    def predict(self, rows: list[dict[str, Any]]) -> list[float]:
        return self.model.predict_rows(rows)
