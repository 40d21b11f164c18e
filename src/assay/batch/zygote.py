"""The local engine's zygote: one process imports the heavy model libraries once, then forks workers.

`python -m assay.batch.zygote CONTROL_FD PARENT_PID` starts with its numeric thread pools pinned,
imports the libraries every worker needs (`PRELOAD`: scikit-learn, SciPy, skops, pandas, about
2 s of CPU), and then serves requests on a Unix socket from the coordinator:

- fork: the coordinator sends a worker's two pipe ends (SCM_RIGHTS); the zygote forks a child that
  runs the worker loop on them (`assay.batch.worker.serve`) and answers on the pipe itself;
- kill PID / reap PID: kill a child of this zygote (never any other process: a PID it has reaped is
  never signalled again) or wait for one to end, and answer how it ended;
- stop: kill the children left, reap them, exit.

Forking a process that holds threads is only safe when none of them holds a lock at the fork:
the zygote never imports polars (its thread pools and cleanup thread) and runs nothing before a
fork; the children import polars, load the model and do everything else after it. pyarrow,
which pandas imports, keeps a jemalloc background thread; jemalloc takes and releases its own locks
around a fork (pthread_atfork), which is what makes forking with it safe.

Death follows the parent: the zygote dies with the coordinator and each child with the zygote
(PR_SET_PDEATHSIG on Linux), so `kill -9` of the coordinator leaves no worker behind, writing.
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import sys
import time
import traceback
from multiprocessing.connection import Connection

from assay.batch.worker import die_with_parent

# Modules the sklearn flavor and the scoring stack import, never polars (see above): the third-party
# libraries, then Assay's own modules that do not import polars (the spec's pydantic models, the
# evaluation statistics, the registry's records).
PRELOAD = (
    "numpy", "pandas", "scipy.stats", "scipy.optimize", "sklearn.base", "sklearn.compose", "sklearn.ensemble",
    "sklearn.impute", "sklearn.isotonic", "sklearn.pipeline", "sklearn.preprocessing", "skops.io", "threadpoolctl",
    "structlog", "fsspec", "assay.spec", "assay.evaluation", "assay.registry.records",
)
_FORBIDDEN = ("polars",)  # modules that start threads holding locks; a zygote that has one refuses to fork
_REAP_POLL_S = 0.02


def describe_status(status: int) -> str:
    """How a process ended, from its wait status."""
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    if os.WIFEXITED(status):
        return f"exit code {os.WEXITSTATUS(status)}"
    return f"wait status {status}"  # pragma: no cover - stopped or continued


def preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional library missing here: the worker imports what it needs
            continue
    present = [name for name in _FORBIDDEN if name in sys.modules]
    if present:  # pragma: no cover - guards against a future import chain pulling polars in
        raise RuntimeError(f"the zygote imported {', '.join(present)}; forking it is not safe")


class Zygote:
    """The zygote's side: a control socket, its children, and the request loop."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.requests = Connection(os.dup(control.fileno()))
        self.children: dict[int, str | None] = {}  # pid -> how it ended (None: running or not reaped)

    def serve(self) -> int:
        while True:
            try:
                request = self.requests.recv()
            except (EOFError, OSError):
                self.stop()
                return 0
            kind = request[0]
            if kind == "fork":
                self.fork()
            elif kind == "kill":
                self.requests.send(("ended", self.kill(request[1])))
            elif kind == "reap":
                self.requests.send(("ended", self.reap(request[1], request[2])))
            elif kind == "stop":
                self.stop()
                return 0

    def fork(self) -> None:
        _, fds, _, _ = socket.recv_fds(self.control, 1, 2)
        inbox_fd, outbox_fd = fds
        zygote_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: becomes a worker, and never returns into this loop
            code = 1
            try:
                self.requests.close()
                self.control.close()
                die_with_parent(zygote_pid)
                from assay.batch.worker import run_worker

                code = run_worker(inbox_fd, outbox_fd)
            except BaseException:  # the process boundary: print, then exit without the zygote's cleanup
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(inbox_fd)
        os.close(outbox_fd)
        self.children[pid] = None

    def kill(self, pid: int) -> str:
        if pid not in self.children:
            return "not a worker of this zygote"
        if self.children[pid] is None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # pragma: no cover - it ended and is waiting to be reaped
                pass
        return self.reap(pid, 10.0)

    def reap(self, pid: int, timeout_s: float) -> str:
        if pid not in self.children:
            return "not a worker of this zygote"
        deadline = time.monotonic() + timeout_s
        while self.children[pid] is None:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self.children[pid] = describe_status(status)
                break
            if time.monotonic() >= deadline:
                return "it stopped answering"
            time.sleep(_REAP_POLL_S)
        return self.children[pid] or ""

    def stop(self) -> None:
        for pid, ended in self.children.items():
            if ended is None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:  # pragma: no cover
                    pass
        for pid in list(self.children):
            self.reap(pid, 5.0)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    control_fd, parent_pid = int(args[0]), int(args[1])
    die_with_parent(parent_pid)
    control = socket.socket(fileno=control_fd)
    preload()
    return Zygote(control).serve()


if __name__ == "__main__":
    sys.exit(main())
