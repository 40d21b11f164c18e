"""Running the service: JSON logs with redaction, pinned thread pools, uvicorn with graceful shutdown.

One worker runs the app in this process. With `workers > 1`, uvicorn forks workers that each build
the app from the environment (`ASSAY_SERVE_PROJECT`); their Prometheus metrics are merged through
a shared folder (`PROMETHEUS_MULTIPROC_DIR`, set here), so any worker's /metrics shows them all.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import uvicorn

from assay.project.settings import STATE_DIR
from assay.serving.app import ServingApp, create_app
from assay.serving.logs import configure_logging
from assay.serving.service import ServeOptions

PROJECT_ENV = "ASSAY_SERVE_PROJECT"
ACCESS_LOG_ENV = "ASSAY_SERVE_ACCESS_LOG"
PII_ENV = "ASSAY_SERVE_PII_FIELDS"
LEVEL_ENV = "ASSAY_SERVE_LOG_LEVEL"
GRACEFUL_SHUTDOWN_S = 30


def app_from_environment() -> ServingApp:
    """The uvicorn factory for worker processes."""
    configure_logging(os.environ.get(PII_ENV, "").split(",") if os.environ.get(PII_ENV) else [],
                      level=os.environ.get(LEVEL_ENV, "info"))
    return create_app(ServeOptions(project_dir=Path(os.environ[PROJECT_ENV]),
                                   access_log=os.environ.get(ACCESS_LOG_ENV) == "1"))


def run_server(project_dir: Path, *, host: str, port: int, workers: int, threads: int, pii_fields: list[str],
               log_level: str = "info", access_log: bool = False) -> None:
    """Serve until SIGINT/SIGTERM, then stop accepting, finish in-flight requests, flush the logs."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # for libraries that read it at load
    configure_logging(pii_fields, level=log_level)
    # proxy_headers off: the ASGI client must stay the TCP peer, which decides whether a proxy's user
    # header is trusted (access.proxy.trusted_proxies); uvicorn would replace it with X-Forwarded-For.
    common = dict(host=host, port=port, log_config=None, access_log=False, lifespan="on",
                  timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, loop="uvloop", http="httptools",
                  server_header=False, proxy_headers=False)
    if workers == 1:
        app = create_app(ServeOptions(project_dir=project_dir, access_log=access_log))
        config = uvicorn.Config(app, **common)  # type: ignore[arg-type]
        uvicorn.Server(config).run()
        return
    metrics_dir = project_dir / STATE_DIR / f"serve-metrics-{port}"  # one per server on this project
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    os.environ[PROJECT_ENV] = str(project_dir)
    os.environ[PII_ENV] = ",".join(pii_fields)
    os.environ[LEVEL_ENV] = log_level
    os.environ[ACCESS_LOG_ENV] = "1" if access_log else "0"
    uvicorn.run("assay.serving.server:app_from_environment", factory=True, workers=workers, **common)  # type: ignore[arg-type]


__all__ = ["app_from_environment", "configure_logging", "run_server"]
