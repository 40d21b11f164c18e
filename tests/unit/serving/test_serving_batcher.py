"""The micro-batcher: coalescing, off-loop model calls, deadlines, model failures, load shedding, shutdown.

Real asyncio and real threads, small real models. Timing is never asserted as speed: the
model is held with threading.Event, time bounds are read from the batcher's own (often
fake) clock, and only lower bounds are checked against the real clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import assay.serving
from assay.errors import AssayError
from assay.serving import (
    BatcherUnavailableError,
    BatchStats,
    DeadlineExceededError,
    InvalidRequestError,
    MicroBatcher,
    ModelError,
    QueueFullError,
    RequestTooLargeError,
    ServingError,
)

T = TypeVar("T")


def run(scenario: Awaitable[T]) -> T:
    """Run a scenario on a fresh loop; a hang fails the test instead of the suite."""

    async def bounded() -> T:
        return await asyncio.wait_for(scenario, timeout=10)

    return asyncio.run(bounded())


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    give_up = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < give_up, "condition never came true"
        await asyncio.sleep(0.001)


def rows(*xs: int) -> pd.DataFrame:
    return pd.DataFrame({"x": list(xs)})


def far() -> float:
    return time.monotonic() + 30


def double(frame: pd.DataFrame) -> np.ndarray:
    return frame["x"].to_numpy() * 2


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class HeldModel:
    """Doubles x, but every call blocks its thread until `release` is set; records what it saw."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.sizes: list[int] = []
        self.threads: list[int] = []
        self.returned = 0

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        self.sizes.append(len(frame))
        self.threads.append(threading.get_ident())
        self.started.set()
        self.release.wait(timeout=5)
        self.returned += 1
        return double(frame)


Backlog = tuple[MicroBatcher, asyncio.Task[np.ndarray], list[asyncio.Task[np.ndarray]]]


@contextlib.asynccontextmanager
async def backlogged(model: HeldModel, queued_xs: Sequence[int], **limits: int) -> AsyncIterator[Backlog]:
    """A running batcher (one row per batch) whose model holds x=1 while one-row requests for `queued_xs` queue."""
    async with MicroBatcher(model, max_batch_rows=1, max_wait_ms=0, **limits) as batcher:
        try:
            running = asyncio.create_task(batcher.predict(rows(1), deadline=far()))
            await eventually(model.started.is_set)
            queued = [asyncio.create_task(batcher.predict(rows(x), deadline=far())) for x in queued_xs]
            await eventually(lambda: batcher.queue_rows == len(queued_xs))
            yield batcher, running, queued
        finally:
            model.release.set()


# --- coalescing -----------------------------------------------------------------------------------


def test_concurrent_requests_are_coalesced_and_each_caller_gets_its_own_row() -> None:
    sizes: list[int] = []

    def recording(frame: pd.DataFrame) -> np.ndarray:
        sizes.append(len(frame))
        return double(frame)

    async def scenario() -> list[np.ndarray]:
        async with MicroBatcher(recording, max_batch_rows=16, max_wait_ms=5) as batcher:
            return await asyncio.gather(*(batcher.predict(rows(i), deadline=far()) for i in range(100)))

    answers = run(scenario())
    assert [answer.tolist() for answer in answers] == [[2 * i] for i in range(100)]
    assert sum(sizes) == 100 and max(sizes) <= 16
    assert len(sizes) <= 10  # 100 requests, ceil(100 / 16) = 7 batches when they all queue at once


def test_multi_row_requests_get_exactly_their_rows_of_a_2d_prediction() -> None:
    def both_signs(frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack([frame["x"], -frame["x"]])

    requests = [list(range(start, start + n)) for start, n in [(0, 3), (10, 1), (20, 5), (30, 2)]]

    async def scenario() -> list[np.ndarray]:
        async with MicroBatcher(both_signs, max_batch_rows=8) as batcher:
            return await asyncio.gather(*(batcher.predict(rows(*xs), deadline=far()) for xs in requests))

    for xs, answer in zip(requests, run(scenario()), strict=True):
        assert answer.shape == (len(xs), 2)
        assert answer.tolist() == [[x, -x] for x in xs]


@settings(max_examples=25, deadline=None)
@given(
    request_sizes=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=20),
    max_batch_rows=st.integers(min_value=1, max_value=12),
)
def test_batches_hold_whole_requests_within_the_limit_and_answers_keep_their_order(
    request_sizes: list[int], max_batch_rows: int
) -> None:
    stats: list[BatchStats] = []
    starts = np.cumsum([0, *request_sizes[:-1]])
    requests = [list(range(start, start + n)) for start, n in zip(starts.tolist(), request_sizes, strict=True)]

    async def scenario() -> list[np.ndarray]:
        async with MicroBatcher(double, max_batch_rows=max_batch_rows, max_wait_ms=0, on_batch=stats.append) as b:
            return await asyncio.gather(*(b.predict(rows(*xs), deadline=far()) for xs in requests))

    for xs, answer in zip(requests, run(scenario()), strict=True):
        assert answer.tolist() == [2 * x for x in xs]
    assert sum(s.rows for s in stats) == sum(request_sizes)
    assert sum(s.requests for s in stats) == len(request_sizes)
    assert all(s.rows <= max_batch_rows or s.requests == 1 for s in stats)


def test_a_request_larger_than_max_batch_rows_runs_alone() -> None:
    sizes: list[int] = []

    def recording(frame: pd.DataFrame) -> np.ndarray:
        sizes.append(len(frame))
        return double(frame)

    async def scenario() -> list[np.ndarray]:
        async with MicroBatcher(recording, max_batch_rows=4) as batcher:
            requests = [rows(1), rows(*range(10)), rows(2), rows(3, 4)]
            return await asyncio.gather(*(batcher.predict(r, deadline=far()) for r in requests))

    answers = run(scenario())
    assert [a.tolist() for a in answers] == [[2], [2 * x for x in range(10)], [4], [6, 8]]
    assert sizes == [1, 10, 3]


# --- adaptive waiting (timed by the batcher's clock) ----------------------------------------------


def test_a_lone_request_waits_max_wait_on_the_batchers_clock_then_goes_alone() -> None:
    clock = FakeClock()
    stats: list[BatchStats] = []

    async def scenario() -> None:
        async with MicroBatcher(double, max_batch_rows=8, max_wait_ms=10, clock=clock, on_batch=stats.append) as b:
            answer = asyncio.create_task(b.predict(rows(7), deadline=clock() + 60))
            await asyncio.sleep(0.05)  # real time passes; the batcher's clock stands still, so nothing goes
            assert stats == [] and b.queue_rows == 1
            clock.advance(0.010)
            assert (await answer).tolist() == [14]

    run(scenario())
    assert len(stats) == 1
    assert (stats[0].rows, stats[0].requests, stats[0].queue_rows_after, stats[0].failed) == (1, 1, 0, False)
    assert stats[0].wait_s == pytest.approx(0.010)


def test_a_full_batch_goes_at_once_without_waiting() -> None:
    clock = FakeClock()  # never advanced: only a full batch can go
    stats: list[BatchStats] = []

    async def scenario() -> list[np.ndarray]:
        async with MicroBatcher(double, max_batch_rows=4, max_wait_ms=1000, clock=clock, on_batch=stats.append) as b:
            return await asyncio.gather(*(b.predict(rows(i), deadline=clock() + 60) for i in range(4)))

    assert [a.tolist() for a in run(scenario())] == [[0], [2], [4], [6]]
    assert [(s.rows, s.requests, s.wait_s) for s in stats] == [(4, 4, 0.0)]


def test_a_lone_request_on_the_real_clock_waits_at_least_max_wait() -> None:
    stats: list[BatchStats] = []

    async def scenario() -> None:
        async with MicroBatcher(double, max_batch_rows=8, max_wait_ms=20, on_batch=stats.append) as b:
            await b.predict(rows(1), deadline=far())

    run(scenario())
    assert [s.requests for s in stats] == [1]
    assert stats[0].wait_s >= 0.020


# --- off the event loop ---------------------------------------------------------------------------


def test_the_event_loop_keeps_running_and_accepting_while_the_model_predicts() -> None:
    model = HeldModel()

    async def scenario() -> None:
        async with MicroBatcher(model, max_batch_rows=8, max_wait_ms=0) as batcher:
            first = asyncio.create_task(batcher.predict(rows(1), deadline=far()))
            await eventually(model.started.is_set)
            ticks = 0
            for _ in range(100):  # another coroutine keeps ticking while the model thread is blocked
                await asyncio.sleep(0)
                ticks += 1
            second = asyncio.create_task(batcher.predict(rows(2), deadline=far()))
            await eventually(lambda: batcher.queue_rows == 1)
            assert ticks == 100 and model.returned == 0 and batcher.in_flight_rows == 1 and not first.done()
            model.release.set()
            assert (await first).tolist() == [2]
            assert (await second).tolist() == [4]

    run(scenario())
    assert model.sizes == [1, 1]  # one batch at a time: the second could not join the running one
    assert threading.get_ident() not in model.threads


# --- deadlines ------------------------------------------------------------------------------------


def test_a_request_expiring_in_the_queue_fails_at_its_deadline_without_waiting_for_the_model() -> None:
    model = HeldModel()

    async def scenario() -> None:
        async with backlogged(model, []) as (batcher, running, _):
            deadline = time.monotonic() + 0.05
            with pytest.raises(DeadlineExceededError) as caught:
                await batcher.predict(rows(2), deadline=deadline)
            assert time.monotonic() >= deadline
            assert model.returned == 0 and batcher.queue_rows == 0
            assert caught.value.stage == "queue" and caught.value.code == "serving-timeout"
            model.release.set()
            await running

    run(scenario())
    assert model.sizes == [1]  # the expired request never reached the model


def test_a_request_expiring_while_its_batch_runs_times_out_and_the_rest_of_the_batch_is_answered() -> None:
    model = HeldModel()

    async def scenario() -> None:
        async with MicroBatcher(model, max_batch_rows=2, max_wait_ms=1000) as batcher:
            short_deadline = time.monotonic() + 0.5
            short = asyncio.create_task(batcher.predict(rows(1), deadline=short_deadline))
            patient = asyncio.create_task(batcher.predict(rows(2), deadline=far()))
            await eventually(model.started.is_set)
            with pytest.raises(DeadlineExceededError) as caught:
                await short
            assert time.monotonic() >= short_deadline and model.returned == 0
            assert caught.value.stage == "model"
            model.release.set()
            assert (await patient).tolist() == [4]

    run(scenario())
    assert model.sizes == [2]


def test_a_cancelled_caller_leaves_the_queue_and_never_reaches_the_model() -> None:
    model = HeldModel()

    async def scenario() -> None:
        async with backlogged(model, [2]) as (batcher, running, [leaving]):
            leaving.cancel()
            await asyncio.gather(leaving, return_exceptions=True)
            assert batcher.queue_rows == 0
            model.release.set()
            await running

    run(scenario())
    assert model.sizes == [1]


# --- model failures -------------------------------------------------------------------------------


def test_a_model_failure_reaches_every_request_of_its_batch_and_later_batches_still_run() -> None:
    sizes: list[int] = []
    stats: list[BatchStats] = []

    def fails_once(frame: pd.DataFrame) -> np.ndarray:
        sizes.append(len(frame))
        if len(sizes) == 1:
            raise RuntimeError("model exploded")
        return double(frame)

    async def scenario() -> tuple[list[BaseException | np.ndarray], np.ndarray]:
        async with MicroBatcher(fails_once, max_batch_rows=3, on_batch=stats.append) as batcher:
            failed = await asyncio.gather(
                *(batcher.predict(rows(i), deadline=far()) for i in range(3)), return_exceptions=True
            )
            return failed, await batcher.predict(rows(5), deadline=far())

    failed, later = run(scenario())
    assert all(isinstance(error, ModelError) for error in failed)
    assert all(isinstance(error.__cause__, RuntimeError) for error in failed)  # type: ignore[union-attr]
    assert len({id(error) for error in failed}) == 3  # each caller raises its own error object
    assert "model exploded" in str(failed[0]) and failed[0].code == "serving-model-error"  # type: ignore[union-attr]
    assert later.tolist() == [10]
    assert sizes == [3, 1] and [s.failed for s in stats] == [True, False]


@pytest.mark.parametrize(
    "wrong", [lambda frame: np.zeros(len(frame) - 1), lambda frame: np.float64(1.0)], ids=["too-few", "scalar"]
)
def test_a_model_not_returning_one_prediction_per_row_is_a_model_error(
    wrong: Callable[[pd.DataFrame], np.ndarray],
) -> None:
    async def scenario() -> None:
        async with MicroBatcher(wrong, max_wait_ms=0) as batcher:
            await batcher.predict(rows(1, 2), deadline=far())

    with pytest.raises(ModelError, match="one per row") as caught:
        run(scenario())
    assert isinstance(caught.value.__cause__, ValueError)


# --- load shedding --------------------------------------------------------------------------------


def test_a_full_queue_refuses_at_once_and_accepts_again_once_drained() -> None:
    model = HeldModel()

    async def scenario() -> None:
        async with backlogged(model, [2, 3, 4, 5], max_queue_rows=4) as (batcher, running, queued):
            with pytest.raises(QueueFullError) as caught:
                await batcher.predict(rows(6), deadline=far())
            assert caught.value.code == "serving-overloaded"
            assert caught.value.retry_after_s == 1  # no throughput measured yet
            assert batcher.queue_rows == 4 and model.returned == 0  # refused without queueing or waiting
            model.release.set()
            answers = await asyncio.gather(running, *queued)
            assert [a.tolist() for a in answers] == [[2], [4], [6], [8], [10]]
            assert batcher.queue_rows == 0
            assert (await batcher.predict(rows(6), deadline=far())).tolist() == [12]

    run(scenario())


def test_retry_after_is_the_time_recent_throughput_needs_to_work_through_the_queue() -> None:
    clock = FakeClock()
    release = threading.Event()
    sizes: list[int] = []

    def ten_rows_per_second(frame: pd.DataFrame) -> np.ndarray:
        sizes.append(len(frame))
        clock.advance(len(frame) / 10)
        if len(sizes) > 1:
            release.wait(timeout=5)
        return double(frame)

    async def scenario() -> int:
        async with MicroBatcher(
            ten_rows_per_second, max_batch_rows=10, max_wait_ms=1000, max_queue_rows=30, clock=clock
        ) as batcher:
            await batcher.predict(rows(*range(10)), deadline=clock() + 60)  # 10 rows in 1 s of the clock
            running = asyncio.create_task(batcher.predict(rows(*range(10)), deadline=clock() + 60))
            await eventually(lambda: len(sizes) == 2)
            queued = [asyncio.create_task(batcher.predict(rows(*range(10)), deadline=clock() + 60)) for _ in range(3)]
            await eventually(lambda: batcher.queue_rows == 30)
            try:
                with pytest.raises(QueueFullError) as caught:
                    await batcher.predict(rows(1), deadline=clock() + 60)
            finally:
                release.set()
            await asyncio.gather(running, *queued)
            return caught.value.retry_after_s

    assert run(scenario()) == 3  # 30 queued rows at 10 rows/s


# --- admission ------------------------------------------------------------------------------------


def test_requests_that_cannot_be_queued_are_refused_at_once() -> None:
    sizes: list[int] = []

    def recording(frame: pd.DataFrame) -> np.ndarray:
        sizes.append(len(frame))
        return double(frame)

    async def scenario() -> None:
        batcher = MicroBatcher(recording, max_queue_rows=5)
        with pytest.raises(BatcherUnavailableError, match="not been started"):
            await batcher.predict(rows(1), deadline=far())
        async with batcher:
            with pytest.raises(InvalidRequestError):
                await batcher.predict(rows(), deadline=far())
            with pytest.raises(InvalidRequestError):
                await batcher.predict(rows(1), deadline=math.nan)
            with pytest.raises(RequestTooLargeError, match="6 rows"):
                await batcher.predict(rows(*range(6)), deadline=far())
            with pytest.raises(DeadlineExceededError) as caught:
                await batcher.predict(rows(1), deadline=time.monotonic() - 1)
            assert caught.value.stage == "arrival" and batcher.queue_rows == 0

    run(scenario())
    assert sizes == []


@pytest.mark.parametrize("limits", [{"max_batch_rows": 0}, {"max_wait_ms": -1.0}, {"max_wait_ms": math.inf},
                                    {"max_queue_rows": 0}])
def test_impossible_limits_are_rejected(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        MicroBatcher(double, **limits)  # type: ignore[arg-type]


# --- shutdown -------------------------------------------------------------------------------------


def test_stop_with_drain_refuses_new_requests_and_finishes_the_queued_ones() -> None:
    model = HeldModel()

    async def scenario() -> None:
        async with backlogged(model, [2, 3]) as (batcher, running, queued):
            stopping = asyncio.create_task(batcher.stop(drain=True))
            await eventually(lambda: not batcher.is_accepting)
            with pytest.raises(BatcherUnavailableError, match="shutting down"):
                await batcher.predict(rows(4), deadline=far())
            model.release.set()
            await stopping
            assert [a.tolist() for a in await asyncio.gather(running, *queued)] == [[2], [4], [6]]
            with pytest.raises(BatcherUnavailableError, match="stopped"):
                await batcher.predict(rows(4), deadline=far())
            with pytest.raises(BatcherUnavailableError, match="cannot be restarted"):
                await batcher.start()

    run(scenario())
    assert model.sizes == [1, 1, 1]


def test_stop_without_drain_fails_queued_requests_at_once_and_lets_the_running_batch_finish() -> None:
    model = HeldModel()

    async def scenario() -> None:
        async with backlogged(model, [2, 3]) as (batcher, running, queued):
            stopping = asyncio.create_task(batcher.stop(drain=False))
            for request in queued:
                with pytest.raises(BatcherUnavailableError, match="stopped before this request reached the model"):
                    await request
            assert model.returned == 0
            model.release.set()
            await stopping
            assert (await running).tolist() == [2]

    run(scenario())
    assert model.sizes == [1]


# --- the public surface ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        QueueFullError(rows=1, queue_rows=10, max_queue_rows=10, retry_after_s=2),
        RequestTooLargeError(rows=11, max_queue_rows=10),
        DeadlineExceededError(stage="queue", waited_s=0.2),
        ModelError(rows=3, requests=2, cause=RuntimeError("boom")),
        BatcherUnavailableError("the micro-batcher is stopped", hint="retry elsewhere"),
        InvalidRequestError("the request has no rows", hint="send a row"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_serving_errors_are_assay_errors_with_a_code_and_a_hint(error: ServingError) -> None:
    assert isinstance(error, AssayError)
    assert error.code.startswith("serving-") and "code" in type(error).__dict__
    assert error.hint and f"hint: {error.hint}" in str(error)


def test_the_batcher_names_are_public() -> None:
    assert {
        "BatchStats", "BatcherUnavailableError", "DeadlineExceededError", "InvalidRequestError", "MicroBatcher",
        "ModelError", "QueueFullError", "RequestTooLargeError", "ServingError",
    } <= set(assay.serving.__all__)
    assert all(hasattr(assay.serving, name) for name in assay.serving.__all__)


def test_eager_when_idle_sends_a_lone_request_at_once_and_waits_again_under_load() -> None:
    calls: list[int] = []

    def predict(frame: pd.DataFrame) -> np.ndarray:
        calls.append(len(frame))
        return np.zeros(len(frame))

    async def run() -> None:
        # A stopped clock: the max-wait timer can never expire, so only the eager rule can send.
        batcher = MicroBatcher(predict, max_wait_ms=1000, clock=lambda: 0.0, eager_when_idle=True)
        async with batcher:
            await asyncio.wait_for(batcher.predict(pd.DataFrame({"x": [1.0]}), deadline=10.0), 5)
            assert calls == [1]
            # Two requests queued together go as one batch; after it, the wait applies again.
            await asyncio.wait_for(asyncio.gather(
                batcher.predict(pd.DataFrame({"x": [1.0]}), deadline=10.0),
                batcher.predict(pd.DataFrame({"x": [2.0]}), deadline=10.0)), 5)
            assert calls == [1, 2]
            waiting = asyncio.ensure_future(batcher.predict(pd.DataFrame({"x": [3.0]}), deadline=10.0))
            await asyncio.sleep(0.05)
            assert calls == [1, 2] and not waiting.done()  # held for company: the last batch had two
            waiting.cancel()

    asyncio.run(run())
