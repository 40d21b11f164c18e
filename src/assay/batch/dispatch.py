"""Handing chunks to workers, whatever the engine: timeouts, lost workers, bounded re-queues.

An engine is a `WorkerPool`: a few slots, each holding one worker with the model loaded. `dispatch`
keeps every slot busy, and watches each chunk's clock: a chunk past its timeout means a hung
worker, which is replaced (killed, a fresh one started) while its chunk goes back to the queue; a
worker that dies is replaced the same way. A chunk gets `max_attempts` tries in all. A chunk that
fails for good stops the job: nothing new is handed out, chunks already running finish and commit,
then `ChunkFailedError` names the chunk and its cause.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from assay.batch.errors import ChunkFailedError
from assay.batch.outcome import ChunkFailure, ChunkResult, Outcome, WorkerLost
from assay.batch.plan import ChunkTask, describe_chunk


class WorkerPool(Protocol):
    @property
    def slots(self) -> int: ...
    def submit(self, slot: int, task: ChunkTask) -> None: ...
    def wait(self, timeout_s: float) -> list[tuple[int, Outcome]]:
        """Outcomes of finished chunks (and lost workers), waiting at most `timeout_s` for one."""

    def replace(self, slot: int) -> None:
        """Kill the slot's worker (whatever it is doing) and start a fresh one."""


@dataclass(slots=True)
class DispatchStats:
    """What happened on the way: retried I/O, re-queued chunks (hung or lost workers)."""

    retries: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)


def dispatch(
    pool: WorkerPool,
    tasks: Iterable[ChunkTask],
    *,
    chunk_timeout_s: float,
    max_attempts: int,
    on_result: Callable[[ChunkResult], None],
    on_event: Callable[[str], None] = lambda message: None,
    committed: int = 0,
    total: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> DispatchStats:
    """Run every task to a commit, or raise `ChunkFailedError` once running chunks have finished."""
    stats = DispatchStats()
    fresh: Iterator[ChunkTask] = iter(tasks)
    again: deque[ChunkTask] = deque()
    attempts: dict[int, int] = {}
    running: dict[int, tuple[ChunkTask, float]] = {}
    failure: tuple[str, str, int] | None = None  # the first chunk that failed for good: (chunk, cause, attempts)
    exhausted = False

    def next_task() -> ChunkTask | None:
        nonlocal exhausted
        if again:
            return again.popleft()
        if exhausted:
            return None
        task = next(fresh, None)
        if task is None:
            exhausted = True
        return task

    def fill() -> None:
        for slot in range(pool.slots):
            if slot in running or failure is not None:
                continue
            task = next_task()
            if task is None:
                return
            attempts[task.chunk.index] = attempts.get(task.chunk.index, 0) + 1
            pool.submit(slot, task)
            running[slot] = (task, clock())

    def retry_or_fail(task: ChunkTask, why: str) -> None:
        nonlocal failure
        tries = attempts[task.chunk.index]
        if tries < max_attempts:
            stats.requeued.append(f"{describe_chunk(task)}: {why}; queued again (attempt {tries + 1} of {max_attempts})")
            on_event(stats.requeued[-1])
            again.append(task)
        elif failure is None:
            failure = (describe_chunk(task), why, tries)

    fill()
    while running:
        now = clock()
        deadline = min(started + chunk_timeout_s for _, started in running.values())
        for slot, outcome in pool.wait(max(0.0, min(deadline - now, 1.0))):
            task, _ = running.pop(slot)
            if isinstance(outcome, ChunkResult):
                committed += 1
                stats.retries.extend(outcome.retries)
                for line in outcome.retries:
                    on_event(line)
                on_result(outcome)
            elif isinstance(outcome, ChunkFailure):
                stats.retries.extend(outcome.retries)
                if outcome.transient:
                    retry_or_fail(task, outcome.message)
                elif failure is None:
                    failure = (outcome.description, outcome.message, attempts[task.chunk.index])
            else:
                pool.replace(slot)
                retry_or_fail(task, f"its worker was lost ({outcome.reason})")
        now = clock()
        for slot, (task, started) in list(running.items()):
            if now - started >= chunk_timeout_s:
                del running[slot]
                pool.replace(slot)
                retry_or_fail(task, f"no answer within the chunk timeout of {chunk_timeout_s:g} s (hung worker replaced)")
        fill()
    if failure is not None:  # raised once running chunks finished: they count as committed
        chunk, cause, tries = failure
        raise ChunkFailedError(chunk, cause, attempts=tries, committed=committed, total=total)
    return stats


__all__ = ["DispatchStats", "Outcome", "WorkerLost", "WorkerPool", "dispatch"]
