"""What a worker answers for a chunk: committed, failed, or (seen from the coordinator) lost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the local engine imports this before anything heavy (see assay.cli.entry)
    from assay.batch.output import CommittedChunk


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """A committed chunk, with the transient failures that were retried on the way."""

    record: CommittedChunk
    retries: tuple[str, ...] = ()
    seconds: float = 0.0
    cpu_s: float = 0.0  # CPU time the worker spent on it
    peak_rss_mib: float | None = None  # the worker's peak resident set size so far, when it answered


@dataclass(frozen=True, slots=True)
class ChunkFailure:
    """A chunk that could not be scored; `transient` when a retry of the whole chunk may help."""

    index: int
    description: str
    message: str
    transient: bool
    retries: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WorkerLost:
    """The worker holding a chunk exited (crashed, or was killed) before answering."""

    reason: str


Outcome = ChunkResult | ChunkFailure | WorkerLost

__all__ = ["ChunkFailure", "ChunkResult", "Outcome", "WorkerLost"]
