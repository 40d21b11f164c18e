"""Running the service: JSON logs with redaction, pinned thread pools, uvicorn with graceful shutdown.

One worker runs the app in this process. With `workers > 1`, uvicorn forks workers that each build
the app from the environment (`ASSAY_SERVE_PROJECT`); their Prometheus metrics are merged through
a shared folder (`PROMETHEUS_MULTIPROC_DIR`, set here), so any worker's /metrics shows them all.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

import structlog
import uvicorn

from assay.project.settings import STATE_DIR
from assay.security.redaction import redactor
from assay.serving.app import ServeOptions, ServingApp, create_app

PROJECT_ENV = "ASSAY_SERVE_PROJECT"
ACCESS_LOG_ENV = "ASSAY_SERVE_ACCESS_LOG"
GRACEFUL_SHUTDOWN_S = 30


def configure_logging(pii_fields: list[str], *, level: str = "info") -> None:
    """Structured JSON lines on stderr; declared PII fields are masked in every event."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redactor(pii_fields, []),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def app_from_environment() -> ServingApp:
    """The uvicorn factory for worker processes."""
    return create_app(ServeOptions(project_dir=Path(os.environ[PROJECT_ENV]),
                                   access_log=os.environ.get(ACCESS_LOG_ENV) == "1"))


def run_server(project_dir: Path, *, host: str, port: int, workers: int, threads: int, pii_fields: list[str],
               log_level: str = "info") -> None:
    """Serve until SIGINT/SIGTERM, then stop accepting, finish in-flight requests, flush the logs."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # for libraries that read it at load
    configure_logging(pii_fields, level=log_level)
    common = dict(host=host, port=port, log_config=None, access_log=False, lifespan="on",
                  timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, loop="uvloop", http="httptools",
                  server_header=False)
    if workers == 1:
        config = uvicorn.Config(create_app(ServeOptions(project_dir=project_dir)), **common)  # type: ignore[arg-type]
        uvicorn.Server(config).run()
        return
    metrics_dir = project_dir / STATE_DIR / "serve-metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    os.environ[PROJECT_ENV] = str(project_dir)
    uvicorn.run("assay.serving.server:app_from_environment", factory=True, workers=workers, **common)  # type: ignore[arg-type]


__all__ = ["app_from_environment", "configure_logging", "run_server"]
