"""The dispatcher against an in-memory pool: every chunk commits once; hung and lost workers are
replaced and their chunks re-queued, within a bounded number of attempts; a failing chunk stops the
job only after the running chunks finished."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest

from assay.batch.dispatch import dispatch
from assay.batch.errors import ChunkFailedError
from assay.batch.outcome import ChunkFailure, ChunkResult, Outcome, WorkerLost
from assay.batch.output import CommittedChunk
from assay.batch.plan import Chunk, ChunkTask, InputFile

FILE = InputFile("/data/in.parquet", "/data/in.parquet", "parquet", 1000, 100)


def _tasks(n: int) -> list[ChunkTask]:
    return [ChunkTask(Chunk(i, 0, i * 10, 10), FILE, i * 10) for i in range(n)]


def _done(task: ChunkTask) -> ChunkResult:
    return ChunkResult(CommittedChunk(task.chunk.index, 10, 10, 0, "sha", 1))


class FakePool:
    """Slots that answer by a script: per chunk index, a list of behaviours for its attempts
    ('ok', 'lost', 'hang', 'transient', 'fail')."""

    def __init__(self, slots: int, script: dict[int, list[str]], clock: list[float]) -> None:
        self.slots = slots
        self.script = {k: deque(v) for k, v in script.items()}
        self.clock = clock
        self.running: dict[int, tuple[ChunkTask, str]] = {}
        self.replaced: list[int] = []
        self.submitted: list[int] = []

    def submit(self, slot: int, task: ChunkTask) -> None:
        assert slot not in self.running, "a busy slot got a second chunk"
        behaviour = self.script.get(task.chunk.index, deque()).popleft() if self.script.get(task.chunk.index) else "ok"
        self.running[slot] = (task, behaviour)
        self.submitted.append(task.chunk.index)

    def wait(self, timeout_s: float) -> list[tuple[int, Outcome]]:
        answers: list[tuple[int, Outcome]] = []
        for slot, (task, behaviour) in list(self.running.items()):
            if behaviour == "hang":
                continue
            del self.running[slot]
            if behaviour == "ok":
                answers.append((slot, _done(task)))
            elif behaviour == "lost":
                answers.append((slot, WorkerLost("killed by signal 9")))
            else:
                answers.append((slot, ChunkFailure(task.chunk.index, f"chunk {task.chunk.index}", "boom",
                                                   behaviour == "transient")))
        if not answers:
            self.clock[0] += timeout_s  # time passes while everything is hung
        return answers

    def replace(self, slot: int) -> None:
        self.running.pop(slot, None)
        self.replaced.append(slot)


def _run(pool: FakePool, tasks: list[ChunkTask], clock: list[float], **kwargs: object) -> list[int]:
    committed: list[int] = []
    dispatch(pool, tasks, chunk_timeout_s=10.0, max_attempts=3, on_result=lambda r: committed.append(r.record.index),
             clock=lambda: clock[0], **kwargs)  # type: ignore[arg-type]
    return committed


def test_every_chunk_commits_exactly_once() -> None:
    clock = [0.0]
    pool = FakePool(2, {}, clock)
    assert sorted(_run(pool, _tasks(7), clock)) == list(range(7))
    assert pool.replaced == []


def test_a_lost_worker_is_replaced_and_its_chunk_queued_again() -> None:
    clock = [0.0]
    pool = FakePool(2, {3: ["lost", "ok"]}, clock)
    assert sorted(_run(pool, _tasks(6), clock)) == list(range(6))
    assert len(pool.replaced) == 1 and pool.submitted.count(3) == 2


def test_a_hung_chunk_is_noticed_at_its_timeout_and_scored_again() -> None:
    clock = [0.0]
    pool = FakePool(2, {1: ["hang", "ok"]}, clock)
    events: list[str] = []
    assert sorted(_run(pool, _tasks(4), clock, on_event=events.append)) == list(range(4))
    assert pool.submitted.count(1) == 2 and len(pool.replaced) == 1
    assert any("chunk 1 " in e and "chunk timeout of 10 s" in e and "attempt 2 of 3" in e for e in events)
    assert clock[0] >= 10.0


def test_attempts_are_bounded_and_the_error_names_the_chunk() -> None:
    clock = [0.0]
    pool = FakePool(1, {2: ["lost", "lost", "lost", "ok"]}, clock)
    with pytest.raises(ChunkFailedError) as raised:
        _run(pool, _tasks(4), clock)
    assert "chunk 2 (rows 20-29 of /data/in.parquet) failed after 3 attempt(s)" in str(raised.value)
    assert pool.submitted.count(2) == 3


def test_a_permanent_failure_lets_running_chunks_finish_and_hands_out_nothing_new() -> None:
    clock = [0.0]
    pool = FakePool(2, {0: ["fail"]}, clock)
    committed: list[int] = []
    with pytest.raises(ChunkFailedError) as raised:
        dispatch(pool, _tasks(6), chunk_timeout_s=10.0, max_attempts=3,
                 on_result=lambda r: committed.append(r.record.index), clock=lambda: clock[0], total=6)
    assert committed == [1]  # chunk 1 ran beside chunk 0 and committed; nothing after the failure started
    assert pool.submitted == [0, 1]
    assert "1 of 6 chunk(s) are committed" in str(raised.value) and "boom" in str(raised.value)


def test_a_transient_failure_is_retried_like_a_lost_worker() -> None:
    clock = [0.0]
    pool = FakePool(2, {4: ["transient", "ok"]}, clock)
    assert sorted(_run(pool, _tasks(5), clock)) == list(range(5))
    assert pool.replaced == []  # the worker is fine; only its chunk goes round again


def test_tasks_are_pulled_lazily_so_a_csv_input_is_never_held_whole() -> None:
    clock = [0.0]
    pool = FakePool(2, {}, clock)
    pulled: list[int] = []

    def tasks():  # type: ignore[no-untyped-def]
        for task in _tasks(50):
            pulled.append(task.chunk.index)
            assert len(pulled) - len(committed) <= 3, "the dispatcher read ahead of its workers"
            yield task

    committed: list[int] = []
    dispatch(pool, tasks(), chunk_timeout_s=10.0, max_attempts=3, on_result=lambda r: committed.append(r.record.index),
             clock=lambda: clock[0])
    assert sorted(committed) == list(range(50))
