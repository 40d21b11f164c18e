"""The Ray engine: one Ray actor per slot, the model loaded once in each, chunks as actor calls.

`RayEngine.open(plan)` connects to Ray (an `address` such as ``ray://head:10001``; else the
session this process already has; else ``RAY_ADDRESS``; else a local instance it starts and later
stops), puts the plan in the object store once and starts one actor (``num_cpus=1``) per slot.
Each actor pins its thread pools (`OMP_NUM_THREADS` and friends = the spec's `model.threads`,
polars to one thread, threadpoolctl for libraries already loaded) and builds one `ChunkScorer`.
A chunk is one `run` call; the scorer does all reading, checking, writing and committing, so the
output is byte for byte what the local engine writes, and `dispatch` handles timeouts and lost
actors through `replace`, as it does for local worker processes.

On a real cluster every node runs the scorer itself: assay and the model's dependencies must be
installed there (same versions as here), and the input and output URLs must be storage every node
can reach (``s3://...``, ``gs://...``): a local path on the driver's machine does not exist on the
other nodes. ``ray://`` addresses need the Ray client (``pip install 'assay[ray]'`` installs it).

This module imports only light modules at the top: Ray workers import it to build the actor, and
polars reads POLARS_MAX_THREADS when it is first imported, which must come after the actor has set
the variable.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from assay.batch.errors import EngineUnavailableError, ScoringError
from assay.batch.options import thread_env
from assay.batch.outcome import ChunkFailure, Outcome, WorkerLost

if TYPE_CHECKING:
    from assay.batch.plan import ChunkTask, ScoringPlan
    from assay.batch.scorer import ChunkScorer

_INSTALL_HINT = "pip install 'assay[ray]'"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise EngineUnavailableError(f"the Ray engine needs Ray, which is not installed here ({exc})",
                                     hint=_INSTALL_HINT) from exc
    return ray


class _ScoringActor:
    """Lives in a Ray worker process: pins the thread pools, loads the model once, scores chunks."""

    def __init__(self, boxed_plan: list[Any], threads: int) -> None:
        # The plan comes boxed so that Ray does not unpickle it (importing polars) before the
        # variables are set; the environment is set in-process rather than with a per-actor
        # runtime_env, which makes Ray start a dedicated worker per actor (seconds each, measured).
        os.environ.update(thread_env(threads))
        self._scorer: ChunkScorer | None = None
        self._error: str | None = None
        try:
            import ray
            from threadpoolctl import threadpool_limits

            from assay.batch.scorer import ChunkScorer

            threadpool_limits(limits=threads)  # this actor predicts in one thread of its own
            self._scorer = ChunkScorer(ray.get(boxed_plan[0]))
        except Exception as exc:  # actor boundary: the coordinator reports it
            self._error = f"{type(exc).__name__}: {exc}"

    def ready(self) -> str | None:
        """None when the model is loaded, else why it is not."""
        return self._error

    def run(self, task: ChunkTask) -> Any:
        assert self._scorer is not None
        return self._scorer.run(task)


class RayPool:
    """`WorkerPool` over Ray actors (see the module docstring)."""

    def __init__(self, ray: Any, plan: ScoringPlan, *, workers: int, owns_connection: bool = False,
                 start_timeout_s: float = 300.0) -> None:
        self._ray = ray
        self._owns_connection = owns_connection  # close() then shuts Ray down (or disconnects)
        self._threads = plan.threads
        self._start_timeout_s = start_timeout_s
        self._actors: list[Any] = []
        self._running: dict[int, tuple[Any, ChunkTask]] = {}  # slot -> (object ref, its chunk)
        try:
            self._actor_class = ray.remote(num_cpus=1, max_restarts=0)(_ScoringActor)
            self._plan_ref = ray.put(plan)  # once: every actor, replacements too, reads it from the store
            self._actors = [self._start() for _ in range(workers)]
            self._await_ready(self._actors)
        except BaseException:
            self.close()
            raise

    @property
    def slots(self) -> int:
        return len(self._actors)

    def _start(self) -> Any:
        return self._actor_class.remote([self._plan_ref], self._threads)

    def _await_ready(self, actors: list[Any]) -> None:
        ray = self._ray
        try:
            errors = ray.get([actor.ready.remote() for actor in actors], timeout=self._start_timeout_s)
        except ray.exceptions.GetTimeoutError:
            raise ScoringError(f"{len(actors)} Ray actor(s) did not start within {self._start_timeout_s:g} s",
                               hint="the cluster may lack free CPUs for one actor per --workers; try fewer") from None
        except ray.exceptions.RayError as exc:
            raise ScoringError(f"a Ray scoring actor died while starting: {_first_line(exc)}",
                               hint="check that assay and the model's dependencies are installed on every node"
                               ) from None
        for error in errors:
            if error is not None:
                raise ScoringError(f"a Ray scoring actor could not load the model: {error}",
                                   hint="check that `assay models show` can load it, and that every node has "
                                        "the same assay and library versions")

    def submit(self, slot: int, task: ChunkTask) -> None:
        self._running[slot] = (self._actors[slot].run.remote(task), task)

    def wait(self, timeout_s: float) -> list[tuple[int, Outcome]]:
        by_ref = {ref: slot for slot, (ref, _) in self._running.items()}
        if not by_ref:
            return []
        ready, _ = self._ray.wait(list(by_ref), num_returns=1, timeout=timeout_s)
        if ready:  # and whatever else finished meanwhile
            ready, _ = self._ray.wait(list(by_ref), num_returns=len(by_ref), timeout=0)
        outcomes: list[tuple[int, Outcome]] = []
        for ref in ready:
            slot = by_ref[ref]
            _, task = self._running.pop(slot)
            outcomes.append((slot, self._outcome(ref, task)))
        return outcomes

    def _outcome(self, ref: Any, task: ChunkTask) -> Outcome:
        from assay.batch.plan import (
            describe_chunk,  # polars: never imported at the top (see the module docstring)
        )

        errors = self._ray.exceptions
        try:
            outcome: Outcome = self._ray.get(ref)
        except (errors.RayActorError, errors.WorkerCrashedError) as exc:  # ActorDiedError is a RayActorError
            return WorkerLost(f"Ray actor lost: {_first_line(exc)}")
        except errors.RayError as exc:
            return ChunkFailure(task.chunk.index, describe_chunk(task),
                                f"the Ray task scoring {describe_chunk(task)} failed: {_first_line(exc)}", False)
        return outcome

    def replace(self, slot: int) -> None:
        self._running.pop(slot, None)
        self._ray.kill(self._actors[slot], no_restart=True)
        self._actors[slot] = self._start()
        self._await_ready([self._actors[slot]])

    def close(self) -> None:
        for actor in self._actors:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # already gone, or the connection is: nothing left to stop
                pass
        self._actors = []
        self._running.clear()
        if self._owns_connection:
            self._owns_connection = False
            self._ray.shutdown()  # stops a local instance the engine started; else disconnects

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class RayEngine:
    """Score on a Ray cluster with `workers` actors (default: one per CPU of the cluster)."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        self.address = address
        self.workers = workers
        self._where = address or os.environ.get("RAY_ADDRESS") or "a local Ray instance"

    def describe(self) -> str:
        actors = f"{self.workers} actor(s)" if self.workers else "one actor per CPU"
        return f"ray, {actors} on {self._where}"

    def start(self) -> None:
        """Nothing to start early: Ray is connected, and actors started, in `open`."""

    def close(self) -> None:
        """Nothing to stop: `open`'s pool owns the actors and the connection."""

    def open(self, plan: ScoringPlan) -> RayPool:
        ray = _import_ray()
        connected = self._connect(ray, plan)
        try:
            self.workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        except BaseException:
            if connected:
                ray.shutdown()
            raise
        return RayPool(ray, plan, workers=self.workers, owns_connection=connected)  # closes it on failure

    def _connect(self, ray: Any, plan: ScoringPlan) -> bool:
        """Connect to Ray; True when this engine made the connection (and must close it)."""
        address = self.address
        if address is None and ray.is_initialized():
            self._where = "this process's Ray session"
            return False
        address = address or os.environ.get("RAY_ADDRESS") or None
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING,
                                   "runtime_env": {"env_vars": thread_env(plan.threads)}}
        if ray.is_initialized():
            raise EngineUnavailableError(f"this process is already connected to Ray, not to {address}",
                                         hint="call ray.shutdown() first, or leave out the address to use that session")
        if address is None:
            from assay.batch.local import available_cores

            # "local" always starts a new instance (None would join one `ray start` left running);
            # its workers get this process's import path, as the local engine's do
            options["runtime_env"]["env_vars"]["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
            options.update(address="local", num_cpus=available_cores(), include_dashboard=False)
        else:
            _check_reachable(address)
            options["address"] = address
        try:
            _init_with_retries(ray, options, client=bool(address and address.startswith("ray://")))
        except Exception as exc:  # Ray raises ConnectionError, ValueError, RuntimeError, ... here
            where = address or "a local Ray instance"
            hint = (f"check the address (ray://HEAD:10001) and that the cluster is up; ray:// needs the Ray client "
                    f"({_INSTALL_HINT})")
            if address is not None and "RAY_AUTH_MODE" not in os.environ:
                hint += ("; a cluster with token authentication (what `ray start` sets up in recent Ray versions) "
                         "also needs RAY_AUTH_MODE=token here, and its token in RAY_AUTH_TOKEN or ~/.ray/auth_token")
            raise EngineUnavailableError(f"cannot start or reach Ray at {where}: {_first_line(exc)}",
                                         hint=hint) from exc
        return True


def _init_with_retries(ray: Any, options: dict[str, Any], *, client: bool, attempts: int = 3,
                       rng: random.Random | None = None, sleep: Any = time.sleep) -> None:
    """`ray.init`, tried again (bounded, with full jitter) when a Ray client's server fails to start
    the session it serves this client from: the client server answers "Initialization failure
    from server" when that process dies while starting, which a second attempt usually survives.
    Other errors, and local instances, are not retried."""
    rng = rng or random.Random()
    for attempt in range(1, attempts + 1):
        try:
            ray.init(**options)
            return
        except ConnectionError as exc:
            if not client or "Initialization failure" not in str(exc) or attempt == attempts:
                raise
            ray.shutdown()
            sleep(rng.uniform(0.0, min(5.0, 0.5 * 2 ** attempt)))


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a HOST:PORT nothing listens on: Ray itself retries for minutes."""
    parts = urlsplit(address if "://" in address else f"//{address}")
    if parts.hostname is None or parts.port is None:
        return  # "auto", or a form only Ray understands
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=timeout_s).close()
    except OSError as exc:
        raise EngineUnavailableError(f"cannot reach the Ray cluster at {address}: {exc}",
                                     hint="check the address (ray://HEAD:10001 for the Ray client) and that the "
                                          "cluster is up, e.g. `ray status` on its head node") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


__all__ = ["RayEngine", "RayPool"]
