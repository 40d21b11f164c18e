"""The local engine: a pool of worker processes on this machine, the model loaded once in each.

Workers are separate interpreters (not forks of a process that may hold threads and open stores),
started with their numeric thread pools pinned (`OMP_NUM_THREADS` and friends = the spec's
`model.threads`, polars to one thread), and the coordinator's import path, so user code the model
trusts imports the same. Each slot has its own pipe pair: the coordinator always knows which
worker holds which chunk, and can kill exactly the hung one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import TYPE_CHECKING

from assay.batch.errors import ScoringError
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
    """The environment of a worker process: this one's, with numeric thread pools pinned to one
    thread until the plan arrives (the worker then applies the spec's `model.threads`), polars to
    one thread, and this process's import path."""
    env = {**os.environ, **thread_env(1)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


class _Worker:
    """A worker process: it imports the model stack as soon as it starts, then waits for the plan."""

    def __init__(self, env: dict[str, str]) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "assay.batch.worker", str(to_child_r), str(from_child_w), str(os.getpid())],
            pass_fds=(to_child_r, from_child_w), env=env, stdin=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self.inbox = Connection(to_child_w, readable=False)  # what the worker reads
        self.outbox = Connection(from_child_r, writable=False)  # what it answers

    def lost_reason(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a zombie the OS will reap
            pass
        self.inbox.close()
        self.outbox.close()


class LocalPool:
    """`WorkerPool` over local worker processes. Each worker gets the plan at once and loads the
    model while the coordinator goes on; a slot is waited for only when it first gets a chunk."""

    def __init__(self, plan: ScoringPlan, workers: list[_Worker], *, start_timeout_s: float = 300.0) -> None:
        self._plan = plan
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
        if not worker.outbox.poll(self._start_timeout_s):
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
        worker = _Worker(worker_env())
        self._workers[slot] = worker
        worker.inbox.send(("init", self._plan))

    def close(self) -> None:
        for worker in self._workers:
            try:
                worker.inbox.send(("stop", None))
            except OSError:
                pass
        deadline = time.monotonic() + 10
        for worker in self._workers:
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            worker.kill()
        self._workers = []

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class LocalEngine:
    """Score on this machine with `workers` processes (default: one per available core).

    `start()` launches the processes early, so they import the model stack while the caller is
    still hashing the input; `open(plan)` hands them the plan; `close()` stops any not used."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or available_cores()
        self._started: list[_Worker] = []

    def describe(self) -> str:
        return f"local, {self.workers} worker process(es)"

    def start(self) -> None:
        if not self._started:
            env = worker_env()
            self._started = [_Worker(env) for _ in range(self.workers)]

    def open(self, plan: ScoringPlan) -> LocalPool:
        self.start()
        workers, self._started = self._started, []
        return LocalPool(plan, workers)

    def close(self) -> None:
        for worker in self._started:
            worker.kill()
        self._started = []


__all__ = ["LocalEngine", "LocalPool", "available_cores", "worker_env"]
