"""The local engine's worker process: `python -m assay.batch.worker READ_FD WRITE_FD PARENT_PID`.

It receives the scoring plan once (and loads the model), then chunk after chunk, and answers each
with the chunk's result. It dies with its parent (Linux: PR_SET_PDEATHSIG), so a coordinator
killed with SIGKILL leaves no worker writing behind it; elsewhere it exits when the parent's pipe
closes, after the chunk in hand.
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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    read_fd, write_fd, parent_pid = (int(a) for a in args[:3])
    die_with_parent(parent_pid)
    inbox = Connection(read_fd, writable=False)
    outbox = Connection(write_fd, readable=False)
    try:
        return serve(inbox, outbox)
    except (BrokenPipeError, EOFError):
        return 0  # the coordinator is gone


if __name__ == "__main__":
    sys.exit(main())
