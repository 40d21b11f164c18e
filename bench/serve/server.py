"""A benchmark target's server process and the load put on it: start on a free port in its own
process group, wait for `GET /readyz`, check one answer, drive it with `wrk`, stop the whole group.
Stdlib only (benchmark code; never imported by `src/`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WRK = shutil.which("wrk") or "/usr/bin/wrk"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0


class WrkError(RuntimeError):
    """wrk failed or printed no result; the message carries its output."""


class TargetUnavailable(RuntimeError):
    """A target cannot run here (missing command or venv, or it failed to start); the message says why."""


@dataclass(slots=True)
class Target:
    name: str
    argv: list[str]
    path: str  # the predict route
    env: dict[str, str]
    cwd: Path | None = None
    token: str | None = None
    answer_key: str | None = "predictions"  # where the predictions sit in a JSON object answer; None: a list


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, *, body: bytes | None = None, token: str | None = None,
         timeout_s: float = 10.0) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Server:
    """A target's process group, started on a free port and stopped for sure on exit."""

    def __init__(self, target: Target, log_path: Path) -> None:
        self.target = target
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        argv = [a.replace("{port}", str(self.port)) for a in self.target.argv]
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(argv, env=self.target.env, cwd=self.target.cwd, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self) -> float:
        assert self.process is not None
        t0 = time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < READY_TIMEOUT_S:
            if self.process.poll() is not None:
                raise TargetUnavailable(f"{self.target.name} exited {self.process.returncode} before it was ready:\n"
                                        f"{self.log_tail()}")
            try:
                if http("GET", f"{self.base}/readyz", timeout_s=2.0)[0] == 200:
                    return elapsed
            except OSError:
                pass
            time.sleep(0.2)
        raise TargetUnavailable(f"{self.target.name} was not ready within {READY_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None and not _group_alive(self.process.pid):
            return
        for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, STOP_TIMEOUT_S)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue
            if not _group_alive(self.process.pid):
                break
        try:  # stragglers of the group (e.g. BentoML's worker processes)
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def rss_mib(self) -> float | None:
        """Resident memory of the whole process group, now."""
        if self.process is None:
            return None
        total_kib = 0
        for status in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = status.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == self.process.pid:  # pgrp
                    total_kib += int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
            except (OSError, IndexError, ValueError):
                continue
        return total_kib / 1024 if total_kib else None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_answer(server: Server, body_path: Path, expected: Sequence[float]) -> dict[str, Any]:
    status, payload = http("POST", server.base + server.target.path, body=body_path.read_bytes(), token=server.target.token)
    check: dict[str, Any] = {"status": status}
    if status != 200:
        check["body"] = payload[:300].decode(errors="replace")
        return check
    try:
        answer = json.loads(payload)
        got = answer if server.target.answer_key is None else answer[server.target.answer_key]
        check["max_abs_diff"] = max(abs(float(a) - b) for a, b in zip(got, expected, strict=True))
    except (ValueError, KeyError, TypeError) as exc:  # an answer of another shape: keep it to read
        check["answer_head"] = payload[:300].decode(errors="replace")
        check["not_compared"] = f"{type(exc).__name__}: {exc}"
    return check


def run_wrk(url: str, body_path: Path, token: str | None, *, concurrency: int, duration_s: float) -> dict[str, Any]:
    threads = 1 if concurrency < 16 else 2
    argv = [WRK, "-t", str(threads), "-c", str(concurrency), "-d", f"{duration_s:g}s", "--timeout", "10s",
            "--latency", "-s", str(HERE / "post.lua"), url, "--", str(body_path), token or ""]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("WRKJSON ")]
    if done.returncode != 0 or not lines:
        raise WrkError(f"wrk exited {done.returncode}: {done.stderr.strip()[-500:]} {done.stdout.strip()[-500:]}")
    result = json.loads(lines[-1].removeprefix("WRKJSON "))
    result["threads"] = threads
    return result
