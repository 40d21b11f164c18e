"""The local engine: a pool of worker processes on this machine, the model loaded once in each.

Workers are forks of a zygote (`assay.batch.zygote`): a fresh interpreter, started with its numeric
thread pools pinned (`OMP_NUM_THREADS` and friends = 1, polars to one thread) and the coordinator's
import path, that imports the heavy model libraries once; each fork then imports the rest, loads the
model and scores. Never a fork of the coordinator, which holds threads and open stores. Compared
with one fresh interpreter per worker, the workers' start-up costs one import of scikit-learn and
SciPy instead of one per worker, on a core the coordinator is not using (decision 0018).

Each slot has its own pipe pair: the coordinator always knows which worker holds which chunk, and
has exactly the hung one killed (by the zygote, the only process that signals its children).
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import TYPE_CHECKING, Any

from assay.batch.errors import EngineUnavailableError, ScoringError
from assay.batch.options import thread_env
from assay.batch.outcome import Outcome, WorkerLost

if TYPE_CHECKING:  # this module stays light: the CLI starts workers before it imports the model stack
    from assay.batch.plan import ChunkTask
    from assay.batch.scorer import ScoringPlan


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def worker_env() -> dict[str, str]:
    """The environment of the zygote and so of every worker: this process's, with numeric thread
    pools pinned to one thread until the plan arrives (a worker then applies the spec's
    `model.threads`), polars to one thread, and this process's import path."""
    env = {**os.environ, **thread_env(1)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


class _Zygote:
    """The coordinator's handle on the zygote process: fork a worker, kill or reap one, stop."""

    def __init__(self, env: dict[str, str]) -> None:
        if not hasattr(os, "fork") or not hasattr(socket, "send_fds"):  # pragma: no cover - Windows
            raise EngineUnavailableError("the local engine needs fork() (Linux or macOS)",
                                         hint="use --engine ray, or run on Linux or macOS")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "assay.batch.zygote", str(theirs.fileno()), str(os.getpid())],
            pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._socket = ours
        self._requests = Connection(os.dup(ours.fileno()))

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self) -> _Worker:
        """A new worker. The zygote forks it once its own imports are done; this returns at once."""
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            self._requests.send(("fork",))
            socket.send_fds(self._socket, [b"F"], [to_child_r, from_child_w])
        except OSError as exc:
            os.close(to_child_w)
            os.close(from_child_r)
            raise ScoringError(f"the scoring workers' zygote is gone ({self.ended()})",
                               hint="run the same command again; it resumes") from exc
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        return _Worker(self, Connection(to_child_w, readable=False), Connection(from_child_r, writable=False))

    def ask(self, request: tuple[Any, ...]) -> str:
        """Send a kill or reap request; the answer is how the worker ended."""
        try:
            self._requests.send(request)
            if not self._requests.poll(30):
                return "it stopped answering"
            _, answer = self._requests.recv()
        except (EOFError, OSError):
            return "its zygote is gone"  # and so is the worker: it dies with the zygote
        return str(answer)

    def ended(self) -> str:
        code = self.process.poll()
        if code is None:
            return "still running"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def stop(self) -> None:
        """Stop it once its workers are done: it kills any left and reaps them, then exits."""
        try:
            self._requests.send(("stop",))
        except OSError:
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover - a wedged zygote
            self.process.kill()
            self.process.wait(timeout=10)
        self._close()

    def kill(self) -> None:
        """Stop it at once, even in the middle of its imports: for a zygote whose workers never got
        work (they die with it, or at the latest when their pipes close)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        self._requests.close()
        self._socket.close()


class _Worker:
    """A worker process, seen from the coordinator: two pipe ends, and its pid once it has said it."""

    def __init__(self, zygote: _Zygote, inbox: Connection, outbox: Connection) -> None:
        self.zygote = zygote
        self.inbox = inbox  # what the worker reads
        self.outbox = outbox  # what it answers
        self.pid: int | None = None

    def expect_started(self, timeout_s: float) -> bool:
        """Read the worker's first word, its pid; False when it has not come or the worker is gone."""
        if self.pid is not None:
            return True
        try:
            if not self.outbox.poll(timeout_s):
                return False
            kind, pid = self.outbox.recv()
        except (EOFError, OSError):
            return False
        if kind != "started":  # pragma: no cover - a protocol error
            raise ScoringError(f"a scoring worker said {kind!r} before it started")
        self.pid = int(pid)
        return True

    def lost_reason(self) -> str:
        if self.pid is None:
            return "it exited before it started"
        return self.zygote.ask(("reap", self.pid, 5.0))

    def kill(self) -> None:
        if self.inbox.closed:
            return
        if self.expect_started(0.0):
            self.zygote.ask(("kill", self.pid))
        self.inbox.close()
        self.outbox.close()


class LocalPool:
    """`WorkerPool` over local worker processes. Each worker gets the plan at once and loads the
    model while the coordinator goes on; a slot is waited for only when it first gets a chunk."""

    def __init__(self, plan: ScoringPlan, zygote: _Zygote, workers: list[_Worker], *,
                 start_timeout_s: float = 300.0) -> None:
        self._plan = plan
        self._zygote = zygote
        self._start_timeout_s = start_timeout_s
        self._workers = workers
        self._ready: set[int] = set()
        self._busy: set[int] = set()
        try:
            for worker in self._workers:
                worker.inbox.send(("init", plan))
        except BaseException:
            self.close()
            raise

    @property
    def slots(self) -> int:
        return len(self._workers)

    def _await_ready(self, worker: _Worker) -> None:
        deadline = time.monotonic() + self._start_timeout_s
        if not worker.expect_started(self._start_timeout_s) or not worker.outbox.poll(
                max(0.0, deadline - time.monotonic())):
            if worker.outbox.closed or not self._zygote.alive:
                raise ScoringError(f"a scoring worker exited while starting ({worker.lost_reason()}; "
                                   f"its zygote: {self._zygote.ended()})",
                                   hint="run with --workers 1 and --debug to see its error")
            raise ScoringError(f"a scoring worker did not start within {self._start_timeout_s:g} s",
                               hint="the machine may be overloaded; try fewer --workers")
        try:
            kind, detail = worker.outbox.recv()
        except EOFError:
            raise ScoringError(f"a scoring worker exited while loading the model ({worker.lost_reason()})",
                               hint="run with --workers 1 and --debug to see its error") from None
        if kind != "ready":
            raise ScoringError(f"a scoring worker could not load the model: {detail}",
                               hint="check that `assay models show` can load it here, then run again")

    def submit(self, slot: int, task: ChunkTask) -> None:
        if slot not in self._ready:
            self._await_ready(self._workers[slot])
            self._ready.add(slot)
        self._busy.add(slot)
        try:
            self._workers[slot].inbox.send(("task", task))
        except (BrokenPipeError, OSError):
            pass  # the worker is dead: wait() reports it lost

    def wait(self, timeout_s: float) -> list[tuple[int, Outcome]]:
        by_handle = {self._workers[slot].outbox: slot for slot in self._busy}
        ready = wait(list(by_handle), timeout=timeout_s)
        outcomes: list[tuple[int, Outcome]] = []
        for handle in ready:
            slot = by_handle[handle]  # type: ignore[index]
            self._busy.discard(slot)
            try:
                _, outcome = self._workers[slot].outbox.recv()
            except (EOFError, OSError):
                outcomes.append((slot, WorkerLost(self._workers[slot].lost_reason())))
                continue
            outcomes.append((slot, outcome))
        return outcomes

    def replace(self, slot: int) -> None:
        self._busy.discard(slot)
        self._ready.discard(slot)
        self._workers[slot].kill()
        if not self._zygote.alive:  # it died (and its workers with it): a new one, once
            self._zygote.stop()
            self._zygote = _Zygote(worker_env())
        worker = self._zygote.fork()
        self._workers[slot] = worker
        worker.inbox.send(("init", self._plan))

    def close(self) -> None:
        for worker in self._workers:
            try:
                worker.inbox.send(("stop", None))
            except OSError:
                pass
        deadline = time.monotonic() + 10
        for worker in self._workers:  # a worker that stopped closes its end of the pipe
            try:
                worker.outbox.poll(max(0.0, deadline - time.monotonic()))
            except (EOFError, OSError):
                pass
            worker.kill()
        self._workers = []
        self._zygote.stop()

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


_prestarted: _Zygote | None = None


def prestart() -> None:
    """Start a zygote now, for the next `LocalEngine.start()` in this process to adopt (the CLI
    calls this before its own imports; see `assay.cli.entry`). Stopped at exit if never adopted."""
    global _prestarted
    if _prestarted is None:
        _prestarted = _Zygote(worker_env())
        atexit.register(_stop_prestarted)


def _adopt_prestarted() -> _Zygote | None:
    global _prestarted
    zygote, _prestarted = _prestarted, None
    if zygote is not None and not zygote.alive:
        zygote.stop()
        return None
    return zygote


def _stop_prestarted() -> None:
    zygote = _adopt_prestarted()
    if zygote is not None:
        zygote.kill()


class LocalEngine:
    """Score on this machine with `workers` processes (default: one per available core).

    `start()` launches the zygote and asks it for the workers at once, so they import the model
    stack while the caller is still hashing the input; `open(plan)` hands them the plan; `close()`
    stops any not used."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or available_cores()
        self._zygote: _Zygote | None = None
        self._started: list[_Worker] = []

    def describe(self) -> str:
        return f"local, {self.workers} worker process(es)"

    def start(self) -> None:
        if self._zygote is None:
            self._zygote = _adopt_prestarted() or _Zygote(worker_env())
            self._started = [self._zygote.fork() for _ in range(self.workers)]

    def open(self, plan: ScoringPlan) -> LocalPool:
        self.start()
        assert self._zygote is not None
        zygote, workers = self._zygote, self._started
        self._zygote, self._started = None, []
        return LocalPool(plan, zygote, workers)

    def close(self) -> None:
        """Stop workers that never got a plan (the job ended before it needed them)."""
        for worker in self._started:
            worker.inbox.close()
            worker.outbox.close()
        self._started = []
        if self._zygote is not None:
            self._zygote.kill()
            self._zygote = None


__all__ = ["LocalEngine", "LocalPool", "available_cores", "prestart", "worker_env"]
