"""Peak memory of a process tree, sampled from /proc (Linux; no psutil).

`TreeSampler(pid)` runs a thread that, every `interval_s`, finds the root and all its descendants
(walking the ppid links in /proc/*/stat) and sums their VmRSS (and RssAnon) from
/proc/<pid>/status. A process once seen in the tree stays counted while it lives, even if it is
re-parented (an orphaned Ray worker, say); pids are keyed with their start time, so a reused pid is
not mistaken for it. Summing RSS counts pages shared between processes (libraries, Ray's shared
object store) once per process: an upper bound of the tree's footprint, which is what a machine
must have free.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, start time in clock ticks) of a live process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2 :].split()  # after the command name, which may hold spaces
    return int(fields[1]), int(fields[19])


def _rss_kib(pid: int) -> tuple[int, int] | None:
    """(VmRSS, RssAnon) in KiB, or None if the process is gone (or a zombie without them)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    rss = anon = None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("RssAnon:"):
            anon = int(line.split()[1])
            break
    return None if rss is None else (rss, anon or 0)


def tree_pids(root: int) -> dict[int, int]:
    """The root and its live descendants: {pid: start time}."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is None:
            continue
        parents.setdefault(stat[0], []).append(int(entry.name))
        starts[int(entry.name)] = stat[1]
    if root not in starts:
        return {}
    found, todo = {root: starts[root]}, [root]
    while todo:
        for child in parents.get(todo.pop(), ()):
            if child not in found:
                found[child] = starts[child]
                todo.append(child)
    return found


class TreeSampler:
    """Peak summed RSS of a process tree while the context is open (see the module docstring).

    The full /proc walk (new descendants) runs every `scan_every` samples; in between, only the
    known processes' status files are read, which keeps the sampler's own CPU use small."""

    def __init__(self, root: int, *, interval_s: float = 0.05, scan_every: int = 4) -> None:
        self.root = root
        self.interval_s = interval_s
        self.scan_every = scan_every
        self.known: dict[int, int] = {}
        self.peak_rss_kib = 0
        self.peak_anon_kib = 0
        self.peak_processes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)

    def _sample(self) -> None:
        if self.samples % self.scan_every == 0:
            self.known.update(tree_pids(self.root))
        rss = anon = alive = 0
        for pid, start in list(self.known.items()):
            stat = _stat(pid)
            if stat is None or stat[1] != start:
                del self.known[pid]
                continue
            mem = _rss_kib(pid)
            if mem is None:
                continue
            rss += mem[0]
            anon += mem[1]
            alive += 1
        self.samples += 1
        self.peak_rss_kib = max(self.peak_rss_kib, rss)
        self.peak_anon_kib = max(self.peak_anon_kib, anon)
        self.peak_processes = max(self.peak_processes, alive)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> TreeSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def result(self) -> dict[str, float | int]:
        return {"peak_rss_mib": self.peak_rss_kib / 1024, "peak_rss_anon_mib": self.peak_anon_kib / 1024,
                "peak_processes": self.peak_processes, "samples": self.samples}
