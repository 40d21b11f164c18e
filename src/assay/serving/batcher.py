"""Adaptive micro-batching: concurrent prediction requests coalesced into model batches.

Requests (DataFrames of one or more rows) queue in arrival order. One background task
forms each batch from whole requests, up to ``max_batch_rows`` rows, and sends it when
it is full or ``max_wait_ms`` after its oldest request arrived, whichever comes first:
a lone request waits at most ``max_wait_ms``, a backlog goes at once. The model runs in
an executor thread, one batch at a time, so the event loop keeps accepting requests
while it predicts, and the next batch gathers meanwhile.

Every request has a deadline, an absolute ``clock()`` time. A request still queued at
its deadline is withdrawn and fails with `DeadlineExceededError` there and then; a
request whose batch is still in the model at its deadline fails the same way and its
share of the result is dropped. Expired requests never reach the model. The queue is
bounded in rows: a request that would overfill it is refused at once with
`QueueFullError`, so memory stays bounded and the batcher recovers when load drops.

The clock is the truth for every time decision: timers sleep for what the clock says is
left and look at the clock again when they wake. A clock that stands still (a test's
fake) holds back the max-wait and deadline decisions until it is moved on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import numpy as np
import pandas as pd

from assay.errors import AssayError

_THROUGHPUT_WINDOW = 16  # recent batches the retry-after estimate looks back over
_MAX_RETRY_AFTER_S = 60

# --- errors -----------------------------------------------------------------


class ServingError(AssayError):
    """The model's prediction cannot answer this request; the serving fallback answers instead."""

    code = "serving-error"


class QueueFullError(ServingError):
    """Load shedding: the queue has no room for the request (HTTP 503 with Retry-After)."""

    code = "serving-overloaded"

    def __init__(self, *, rows: int, queue_rows: int, max_queue_rows: int, retry_after_s: int) -> None:
        super().__init__(
            f"the prediction queue is full: {queue_rows} of {max_queue_rows} rows are waiting, no room for {rows} more",
            hint=f"retry after {retry_after_s}s; if overload persists, add replicas or raise max_queue_rows",
        )
        self.retry_after_s = retry_after_s


class RequestTooLargeError(ServingError, ValueError):
    """The request alone has more rows than the queue may ever hold; retrying cannot help."""

    code = "serving-request-too-large"

    def __init__(self, *, rows: int, max_queue_rows: int) -> None:
        super().__init__(
            f"the request has {rows} rows, more than the queue holds ({max_queue_rows})",
            hint=f"split it into requests of at most {max_queue_rows} rows, or raise max_queue_rows",
        )


class InvalidRequestError(ServingError, ValueError):
    code = "serving-invalid-request"


_DEADLINE_STAGES = {
    "arrival": "the request arrived after its deadline",
    "queue": "the request missed its deadline after waiting {waited_s:.3f}s in the queue",
    "model": "the request missed its deadline after {waited_s:.3f}s, while its batch was in the model",
}


class DeadlineExceededError(ServingError, TimeoutError):
    """The request's deadline passed before the model answered it."""

    code = "serving-timeout"

    def __init__(self, *, stage: Literal["arrival", "queue", "model"], waited_s: float = 0.0) -> None:
        super().__init__(
            _DEADLINE_STAGES[stage].format(waited_s=waited_s),
            hint="the fallback answers; if this is frequent, allow a longer deadline, lower max_batch_rows "
            "or add capacity",
        )
        self.stage = stage
        self.waited_s = waited_s


class ModelError(ServingError):
    """The model raised, or returned other than one prediction per row, on the request's batch."""

    code = "serving-model-error"

    def __init__(self, *, rows: int, requests: int, cause: Exception) -> None:
        super().__init__(
            f"the model failed on a batch of {rows} rows from {requests} requests: {type(cause).__name__}: {cause}",
            hint="the fallback answers; the chained exception (__cause__) holds the model's own traceback",
        )
        self.__cause__ = cause


class BatcherUnavailableError(ServingError):
    """The batcher is not running: not started yet, shutting down or stopped (HTTP 503)."""

    code = "serving-unavailable"


# --- values -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchStats:
    """What one batch did, handed to ``on_batch`` after its requests were answered."""

    rows: int
    requests: int
    wait_s: float  # from the oldest request's arrival until the batch started
    run_s: float  # forming the frame and the model call
    queue_rows_after: int  # rows waiting when the batch finished
    failed: bool = False


class _Stage(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


class _State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(eq=False, slots=True)
class _Request:
    rows: Any  # the payload: a DataFrame, or what `combine` takes
    n_rows: int
    deadline: float
    arrived_at: float
    future: asyncio.Future[np.ndarray]
    stage: _Stage = _Stage.QUEUED
    timer: asyncio.TimerHandle | None = None


def _one_per_row(raw: object, rows: int) -> np.ndarray:
    predictions = np.asarray(raw)
    if predictions.ndim == 0 or predictions.shape[0] != rows:
        raise ValueError(f"predict returned shape {predictions.shape} for {rows} rows; it must return one per row")
    return predictions


# --- the batcher ------------------------------------------------------------


class MicroBatcher:
    """Coalesces concurrent ``predict`` calls into batches run one at a time off the event loop.

    ``predict`` maps a DataFrame to one prediction per row (a 1-D or 2-D array); it runs
    in ``executor`` (by default a one-thread pool the batcher owns), never concurrently
    with itself. ``clock`` returns monotonic seconds; deadlines are in its time.
    With ``eager_when_idle``, a request goes to the model at once when the previous batch held
    a single request (no sign of concurrency), instead of waiting ``max_wait_ms`` for company; as
    soon as batches hold several requests, the wait applies again. Low latency at low load, full
    batches under load.
    ``combine`` turns the batch's request payloads into the model's input (default: concatenate
    DataFrames); any payload with ``len()`` = its rows works with a matching ``combine``.
    ``on_batch`` runs on the event loop after each batch and must not raise: if it does,
    the batcher stops, fails what is queued, and ``stop()`` re-raises the error.
    Use ``async with MicroBatcher(...) as batcher:`` or ``start()`` / ``stop()``.
    """

    def __init__(
        self,
        predict: Callable[[pd.DataFrame], np.ndarray],
        *,
        max_batch_rows: int = 256,
        max_wait_ms: float = 2.0,
        max_queue_rows: int = 10_000,
        executor: concurrent.futures.Executor | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_batch: Callable[[BatchStats], None] | None = None,
        combine: Callable[[list[Any]], Any] | None = None,
        eager_when_idle: bool = False,
    ) -> None:
        if max_batch_rows < 1:
            raise ValueError(f"max_batch_rows must be at least 1, got {max_batch_rows}")
        if not 0 <= max_wait_ms < math.inf:
            raise ValueError(f"max_wait_ms must be finite and at least 0, got {max_wait_ms}")
        if max_queue_rows < 1:
            raise ValueError(f"max_queue_rows must be at least 1, got {max_queue_rows}")
        self._predict = predict
        self._max_batch_rows = max_batch_rows
        self._max_wait_s = max_wait_ms / 1000
        self._max_queue_rows = max_queue_rows
        self._executor = executor
        self._clock = clock
        self._on_batch = on_batch
        self._combine = combine or _concat_frames
        self._eager_when_idle = eager_when_idle
        self._last_batch_requests = 0
        self._state = _State.NEW
        self._abandon = False  # stop(drain=False): run no further batch
        self._queue: deque[_Request] = deque()
        self._queue_rows = 0
        self._running: list[_Request] = []
        self._throughput: deque[tuple[int, float]] = deque(maxlen=_THROUGHPUT_WINDOW)  # (rows, run_s)
        self._owned_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    # --- observation ----------------------------------------------------------

    @property
    def queue_rows(self) -> int:
        """Rows waiting for a batch (not counting the batch in the model)."""
        return self._queue_rows

    @property
    def queue_requests(self) -> int:
        return len(self._queue)

    @property
    def in_flight_rows(self) -> int:
        """Rows of the batch the model is running now; 0 when it is idle."""
        return sum(request.n_rows for request in self._running)

    @property
    def is_accepting(self) -> bool:
        return self._state is _State.RUNNING

    # --- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Start the batching task on the running loop; a second call while running does nothing."""
        if self._state is _State.RUNNING:
            return
        if self._state is not _State.NEW:
            raise BatcherUnavailableError(
                "the micro-batcher was stopped and cannot be restarted", hint="create a new MicroBatcher"
            )
        if self._executor is None:
            self._owned_executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="assay-batcher"
            )
        self._wakeup = asyncio.Event()
        self._task = asyncio.create_task(self._run(self._wakeup), name="assay-micro-batcher")
        self._state = _State.RUNNING

    async def stop(self, *, drain: bool = True) -> None:
        """Stop accepting requests, then either finish every queued one (``drain``) or fail them at once.

        A batch already in the model always finishes (a thread cannot be interrupted) and
        its callers get their results; ``stop`` returns when it has.
        """
        if self._task is None:
            self._state = _State.STOPPED
            return
        if self._state is _State.RUNNING:
            self._state = _State.STOPPING
        if not drain:
            self._abandon = True
            self._fail_queued("the micro-batcher stopped before this request reached the model")
        self._wake()
        await asyncio.shield(self._task)

    async def __aenter__(self) -> MicroBatcher:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop(drain=True)

    # --- requests -------------------------------------------------------------

    async def predict(self, rows: Any, *, deadline: float) -> np.ndarray:
        """The model's predictions for ``rows``, one per row, by ``deadline`` (absolute ``clock()`` time).

        Raises `QueueFullError` or `RequestTooLargeError` at once when the request cannot be
        queued, `DeadlineExceededError` at the deadline, `ModelError` when the model fails on
        the request's batch, and `BatcherUnavailableError` when the batcher is not running.
        """
        request = self._admit(rows, deadline)
        try:
            return await self._result(request)
        finally:
            self._withdraw(request)

    def _admit(self, rows: Any, deadline: float) -> _Request:
        if self._state is not _State.RUNNING:
            raise self._unavailable()
        n_rows = len(rows)
        if n_rows == 0:
            raise InvalidRequestError("the request has no rows", hint="send at least one row to predict")
        if math.isnan(deadline):
            raise InvalidRequestError("the request's deadline is NaN", hint="pass an absolute clock() time")
        now = self._clock()
        if deadline <= now:
            raise DeadlineExceededError(stage="arrival")
        if n_rows > self._max_queue_rows:
            raise RequestTooLargeError(rows=n_rows, max_queue_rows=self._max_queue_rows)
        if self._queue_rows + n_rows > self._max_queue_rows:
            raise QueueFullError(
                rows=n_rows,
                queue_rows=self._queue_rows,
                max_queue_rows=self._max_queue_rows,
                retry_after_s=self._retry_after_s(),
            )
        request = _Request(rows, n_rows, deadline, now, asyncio.get_running_loop().create_future())
        self._queue.append(request)
        self._queue_rows += n_rows
        self._wake()
        return request

    async def _result(self, request: _Request) -> np.ndarray:
        # One timer per request rather than a wait() per request (measurably cheaper on the event
        # loop): when it fires it looks at the clock, and fails the request or sleeps on.
        self._arm(request)
        try:
            return await request.future
        finally:
            if request.timer is not None:
                request.timer.cancel()

    def _arm(self, request: _Request) -> None:
        left_s = max(0.0, request.deadline - self._clock())
        request.timer = asyncio.get_running_loop().call_later(left_s, self._expire, request)

    def _expire(self, request: _Request) -> None:
        if request.future.done():
            return
        now = self._clock()
        if now < request.deadline:
            self._arm(request)
            return
        stage: Literal["queue", "model"] = "queue" if request.stage is _Stage.QUEUED else "model"
        request.future.set_exception(DeadlineExceededError(stage=stage, waited_s=now - request.arrived_at))

    def _withdraw(self, request: _Request) -> None:
        """The caller has its answer or has left (deadline, cancellation): forget the request."""
        if request.stage is _Stage.QUEUED:
            self._queue.remove(request)
            self._queue_rows -= request.n_rows
            request.stage = _Stage.DONE
        if not request.future.done():
            request.future.cancel()  # a running batch skips it
        elif not request.future.cancelled():
            request.future.exception()  # mark it retrieved: a caller cancelled meanwhile never read it

    def _unavailable(self) -> BatcherUnavailableError:
        if self._state is _State.NEW:
            return BatcherUnavailableError(
                "the micro-batcher has not been started",
                hint="call `await batcher.start()` or use `async with batcher:` before predicting",
            )
        doing = "shutting down" if self._state is _State.STOPPING else "stopped"
        return BatcherUnavailableError(
            f"the micro-batcher is {doing} and accepts no new requests",
            hint="answer 503 and let the client retry on another replica",
        )

    def _retry_after_s(self) -> int:
        """Seconds the recent throughput needs to work through the queue, within [1, 60]."""
        rows = sum(batch_rows for batch_rows, _ in self._throughput)
        run_s = sum(batch_run_s for _, batch_run_s in self._throughput)
        if rows == 0 or run_s <= 0:
            return 1
        return min(_MAX_RETRY_AFTER_S, max(1, math.ceil(self._queue_rows * run_s / rows)))

    # --- the batching task ----------------------------------------------------

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    async def _run(self, wakeup: asyncio.Event) -> None:
        try:
            while await self._batch_is_due(wakeup):
                batch = self._take_batch()
                if batch:
                    await self._run_batch(batch)
        finally:
            self._state = _State.STOPPED
            self._fail_queued("the micro-batcher stopped before this request reached the model")
            # A batch is left running only when the task itself failed or was cancelled mid-batch.
            _fail(self._running, "the micro-batcher stopped while this request was in the model")
            if self._owned_executor is not None:
                self._owned_executor.shutdown(wait=False)

    async def _batch_is_due(self, wakeup: asyncio.Event) -> bool:
        """Wait until a batch should go now (True) or the task should end (False)."""
        while not self._abandon:
            accepting = self._state is _State.RUNNING
            left_s: float | None = None
            if self._queue:
                left_s = self._queue[0].arrived_at + self._max_wait_s - self._clock()
                if not accepting or self._queue_rows >= self._max_batch_rows or left_s <= 0:
                    return True
                if self._eager_when_idle and self._last_batch_requests <= 1:
                    return True  # no sign of concurrency: waiting would only add latency
            elif not accepting:
                return False
            wakeup.clear()
            try:
                await asyncio.wait_for(wakeup.wait(), left_s)
            except TimeoutError:
                pass
        return False

    def _take_batch(self) -> list[_Request]:
        """Whole requests from the front of the queue, up to max_batch_rows; expired ones fail here."""
        now = self._clock()
        batch: list[_Request] = []
        rows = 0
        while self._queue:
            request = self._queue[0]
            if request.deadline > now and batch and rows + request.n_rows > self._max_batch_rows:
                break
            self._queue.popleft()
            self._queue_rows -= request.n_rows
            if request.deadline <= now:
                request.stage = _Stage.DONE
                request.future.set_exception(DeadlineExceededError(stage="queue", waited_s=now - request.arrived_at))
                continue
            request.stage = _Stage.RUNNING
            batch.append(request)
            rows += request.n_rows
        return batch

    async def _run_batch(self, batch: list[_Request]) -> None:
        rows = sum(request.n_rows for request in batch)
        executor = self._executor or self._owned_executor
        self._running = batch
        started = self._clock()
        try:
            frame = self._combine([request.rows for request in batch])
            raw = await asyncio.get_running_loop().run_in_executor(executor, self._predict, frame)
            outcome: np.ndarray | Exception = _one_per_row(raw, rows)
        except Exception as exc:  # the model is foreign code: its failure goes to its callers, the task runs on
            outcome = exc
        finished = self._clock()
        self._running = []
        self._throughput.append((rows, finished - started))
        self._last_batch_requests = len(batch)
        offset = 0
        for request in batch:
            request.stage = _Stage.DONE
            if not request.future.done():  # else its deadline passed or its caller left
                if isinstance(outcome, Exception):
                    request.future.set_exception(ModelError(rows=rows, requests=len(batch), cause=outcome))
                else:
                    request.future.set_result(outcome[offset : offset + request.n_rows])
            offset += request.n_rows
        if self._on_batch is not None:
            failed = isinstance(outcome, Exception)
            wait_s = started - batch[0].arrived_at
            self._on_batch(BatchStats(rows, len(batch), wait_s, finished - started, self._queue_rows, failed))

    def _fail_queued(self, message: str) -> None:
        queued, self._queue, self._queue_rows = list(self._queue), deque(), 0
        _fail(queued, message)


def _concat_frames(frames: list[Any]) -> pd.DataFrame:
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _fail(requests: list[_Request], message: str) -> None:
    for request in requests:
        request.stage = _Stage.DONE
        if not request.future.done():
            request.future.set_exception(
                BatcherUnavailableError(message, hint="the fallback answers; retry on another replica")
            )


__all__ = [
    "BatchStats",
    "BatcherUnavailableError",
    "DeadlineExceededError",
    "InvalidRequestError",
    "MicroBatcher",
    "ModelError",
    "QueueFullError",
    "RequestTooLargeError",
    "ServingError",
]
