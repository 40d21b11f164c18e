"""The FastAPI floor: the smallest honest server for the registered model, with no batching and no
auth. Loads the model once at start-up and calls predict on each request's rows.

    python bench/serve/fastapi_floor.py --project DIR --port PORT [--host 127.0.0.1]

`GET /readyz` answers 200 once the model is loaded; `POST /v1/predict` takes
`{"rows": [{column: value, ...}, ...]}` and answers `{"predictions": [p, ...]}` (one positive-class
probability per row). One uvicorn worker; uvloop and httptools when installed; no access log.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

sys.path.insert(0, str(Path(__file__).resolve().parent))

from model import BenchModel, open_model  # noqa: E402


def create_app(project_dir: Path) -> FastAPI:
    state: dict[str, BenchModel] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state["model"] = open_model(project_dir)
        yield
        state.clear()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/readyz")
    async def readyz() -> Response:
        return Response(status_code=200 if "model" in state else 503)

    @app.post("/v1/predict")
    async def predict(request: Request) -> Response:
        # Parsed and predicted on the event loop: one request at a time, as a per-request server does.
        body = await request.body()
        predictions = state["model"].predict_rows(orjson.loads(body)["rows"])
        return Response(orjson.dumps({"predictions": predictions}), media_type="application/json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    fast = {name: importlib.util.find_spec(name) is not None for name in ("uvloop", "httptools")}
    uvicorn.run(create_app(args.project), host=args.host, port=args.port, workers=1, access_log=False,
                log_level="warning", loop="uvloop" if fast["uvloop"] else "asyncio",
                http="httptools" if fast["httptools"] else "h11")


if __name__ == "__main__":
    main()
