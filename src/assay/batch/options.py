"""How a scoring job runs: chunk size, timeouts, retries. Plain values, cheap to import."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

DEFAULT_CHUNK_ROWS = 100_000
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                     "NUMEXPR_NUM_THREADS")


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables that pin a scoring process's numeric thread pools to `threads`, and
    polars to one thread (parallelism comes from worker processes or actors)."""
    return {**dict.fromkeys(_THREAD_VARIABLES, str(threads)), "POLARS_MAX_THREADS": "1"}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries of transient I/O: attempt n waits uniform(0, min(max_s, base_s * 2**n))."""

    attempts: int = 4
    base_s: float = 0.2
    max_s: float = 5.0

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.max_s, self.base_s * 2 ** (attempt - 1)))


@dataclass(frozen=True, slots=True)
class ScoreOptions:
    """How a job runs. Only `chunk_rows` changes the output (and so the job id)."""

    chunk_rows: int = DEFAULT_CHUNK_ROWS
    chunk_timeout_s: float = 600.0  # a chunk without an answer by then means a hung worker
    max_attempts: int = 3  # tries per chunk when its worker hangs or dies, or its I/O keeps failing
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    verify: bool = True  # re-hash committed chunks' files before trusting them on resume

    def __post_init__(self) -> None:
        if self.chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        if self.chunk_timeout_s <= 0:
            raise ValueError("chunk_timeout_s must be positive")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


__all__ = ["DEFAULT_CHUNK_ROWS", "RetryPolicy", "ScoreOptions", "thread_env"]
