"""What each stage of a run costs: wall time, CPU time and peak memory, measured as it runs.

A `CostMeter` wraps named stages. CPU time counts this process and the child processes it waited
for; peak memory is the largest resident set size seen while the stage ran, sampled from
/proc/self/status every 20 ms by one daemon thread (elsewhere: the process's peak so far, from
`getrusage`, an upper bound). The costs are recorded with the run, so `assay runs show` can say
where the time went and budgets (`budgets:` in the spec) can be judged against them.
"""

from __future__ import annotations

import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_SAMPLE_S = 0.02


@dataclass(frozen=True, slots=True)
class StageCost:
    name: str
    wall_s: float
    cpu_s: float
    peak_rss_mib: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"wall_s": round(self.wall_s, 4), "cpu_s": round(self.cpu_s, 4),
                "peak_rss_mib": None if self.peak_rss_mib is None else round(self.peak_rss_mib, 1)}


def cpu_seconds() -> float:
    """CPU time of this process and of the children it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _rss_mib() -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_rss_mib() -> float:
    """The largest resident set size this process has had so far (`getrusage`), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


class CostMeter:
    """Measures stages one after the other (not nested).

    `cpu` is the CPU clock the stages are measured with: by default this process and the children
    it waited for (`cpu_seconds`); `time.process_time` counts this process only (a coordinator whose
    workers report their own CPU time).
    """

    def __init__(self, *, cpu: Callable[[], float] = cpu_seconds) -> None:
        self._cpu = cpu
        self.stages: list[StageCost] = []
        self._peak: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), self._cpu()
        with self._lock:
            self._peak = _rss_mib()
        self._start_sampler()
        try:
            yield
        finally:
            current = _rss_mib()
            with self._lock:
                peak = self._peak
            if peak is not None and current is not None:
                peak = max(peak, current)
            elif peak is None:
                peak = peak_rss_mib()
            self.stages.append(StageCost(name, time.perf_counter() - wall, self._cpu() - cpu, peak))

    def _start_sampler(self) -> None:
        if self._sampler is None and _STATUS.exists():
            self._sampler = threading.Thread(target=self._sample, name="assay-cost-meter", daemon=True)
            self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(_SAMPLE_S):
            rss = _rss_mib()
            if rss is None:
                return
            with self._lock:
                if self._peak is None or rss > self._peak:
                    self._peak = rss

    def close(self) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(timeout=1)

    def total(self) -> StageCost:
        peaks = [s.peak_rss_mib for s in self.stages if s.peak_rss_mib is not None]
        return StageCost("total", sum(s.wall_s for s in self.stages), sum(s.cpu_s for s in self.stages),
                         max(peaks) if peaks else None)

    def to_dict(self) -> dict[str, Any]:
        """{stage: {wall_s, cpu_s, peak_rss_mib}, ..., "total": {...}} in the order the stages ran."""
        document = {s.name: s.to_dict() for s in self.stages}
        document["total"] = self.total().to_dict()
        return document


__all__ = ["CostMeter", "StageCost", "cpu_seconds", "peak_rss_mib"]
