"""A real `assay serve` process on 127.0.0.1 for the serving tests, and the projects it serves."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import yaml

from assay.project.access import create_key
from assay.project.workspace import Project
from assay.security.identity import Identity, Role

# A model that misbehaves on demand: the file named by $FLAKY_MODE_FILE says "ok", "raise" or
# "sleep:SECONDS". It is a HistGradientBoostingClassifier otherwise, so it trains and passes gates.
FLAKY_MODULE = '''
import os, time
from pathlib import Path
from sklearn.ensemble import HistGradientBoostingClassifier


class FlakyClassifier(HistGradientBoostingClassifier):
    def predict_proba(self, X):
        path = os.environ.get("FLAKY_MODE_FILE")
        mode = Path(path).read_text().strip() if path and Path(path).exists() else "ok"
        if mode == "raise":
            raise RuntimeError("flaky model: told to fail")
        if mode.startswith("sleep:"):
            time.sleep(float(mode.split(":", 1)[1]))
        return super().predict_proba(X)
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def set_serving(project_dir: Path, **serving: Any) -> None:
    """Merge `serving` into the project's spec (nested dicts merge)."""
    path = project_dir / "assay.yaml"
    spec = yaml.safe_load(path.read_text())
    section = spec.setdefault("serving", {})
    for key, value in serving.items():
        if isinstance(value, dict):
            section.setdefault(key, {}).update(value)
        else:
            section[key] = value
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def use_flaky_model(project_dir: Path) -> None:
    (project_dir / "flaky.py").write_text(FLAKY_MODULE)
    path = project_dir / "assay.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["model"]["estimator"] = "flaky.FlakyClassifier"
    spec["model"]["params"]["max_iter"] = 60
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


ROLES = ("viewer", "trainer", "approver", "deployer", "admin", "predict")


def make_keys(project_dir: Path) -> dict[str, str]:
    """One key per role, named `test-ROLE` (the audit log records it as `key:test-ROLE`), created by
    an admin whatever the spec's `access` says."""
    admin = Identity.of("serving-tests", [Role.ADMIN], source="test")
    with Project.open(project_dir) as project:
        return {role: create_key(project.acting_as(admin), role=role, name=f"test-{role}")[0] for role in ROLES}


def sample_rows(project_dir: Path, n: int, *, offset: int = 0) -> list[dict[str, Any]]:
    frame = pl.read_csv(project_dir / "data" / "applications.csv").slice(offset, n)
    return json.loads(json.dumps(frame.to_dicts(), default=str))


class Server:
    """`assay serve` in a subprocess; stopped with SIGTERM (graceful) by `stop()`."""

    def __init__(self, project_dir: Path, *, env: Mapping[str, str] | None = None, workers: int = 1,
                 args: tuple[str, ...] = (), ready: str = "/readyz") -> None:
        self.project_dir = project_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = project_dir / f"serve-{self.port}.log"
        environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "assay", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(workers), *args],
            cwd=project_dir, env=environment, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.wait_ready(ready)

    def wait_ready(self, path: str = "/readyz", timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"assay serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}{path}", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"assay serve was not ready within {timeout_s}s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        return int(self.process.returncode)


@contextmanager
def serving(project_dir: Path, **kwargs: Any) -> Iterator[Server]:
    server = Server(project_dir, **kwargs)
    try:
        yield server
    finally:
        server.stop()


def predict(server: Server, key: str, rows: list[dict[str, Any]], **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/predict", json={"rows": rows},
                      headers={"Authorization": f"Bearer {key}", **headers}, timeout=30.0)


def wait_until(condition: Any, *, timeout_s: float = 20.0, interval_s: float = 0.1) -> Any:
    """Poll `condition()` until it returns something truthy (bounded); return that."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s")
