"""An exclusive advisory lock on a file, held for a block: how two processes on one machine take
turns over shared state in the project folder (alert dedup state, the label store).

`flock` locks are released by the kernel when the holder exits or dies, so a crashed process never
leaves a stale lock behind. They are advisory and local: every writer must take the lock, and the
folder must be on a local filesystem (the project's `.assay/` folder is).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) until the block ends; others wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


__all__ = ["exclusive_lock"]
