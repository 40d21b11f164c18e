"""The local engine's worker: a child of the zygote (`assay.batch.zygote`), one pipe pair per worker.

It says it started (its pid, so the coordinator can have exactly it killed), imports the rest of
the scoring stack, receives the scoring plan once (and loads the model), then chunk after chunk,
and answers each with the chunk's result. It dies with its parent (Linux: PR_SET_PDEATHSIG), so a
coordinator killed with SIGKILL leaves no worker writing behind it; elsewhere it exits when the
coordinator's pipe closes, after the chunk in hand.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from multiprocessing.connection import Connection

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def serve(inbox: Connection, outbox: Connection) -> int:
    from threadpoolctl import threadpool_limits

    from assay.batch.scorer import ChunkScorer

    kind, plan = inbox.recv()
    if kind != "init":
        return 2
    try:
        threadpool_limits(limits=plan.threads)  # this process predicts in its main thread only
        scorer = ChunkScorer(plan)
    except Exception as exc:  # process boundary: the coordinator reports it
        outbox.send(("init_failed", f"{type(exc).__name__}: {exc}"))
        return 1
    outbox.send(("ready", os.getpid()))
    while True:
        try:
            message = inbox.recv()
        except (EOFError, OSError):
            return 0
        if message[0] == "stop":
            return 0
        outbox.send(("done", scorer.run(message[1])))


def run_worker(inbox_fd: int, outbox_fd: int) -> int:
    """The worker's life on its two pipe ends, from the fork to the coordinator's stop."""
    inbox = Connection(inbox_fd, writable=False)
    outbox = Connection(outbox_fd, readable=False)
    try:
        outbox.send(("started", os.getpid()))
        return serve(inbox, outbox)
    except (BrokenPipeError, EOFError):
        return 0  # the coordinator is gone
