"""Shared pieces for benchmarks: pinned child environments, worker subprocesses, summaries, verdicts.

Benchmark code only (never imported by `src/`). Stdlib only, so any interpreter can run it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent

# Numeric thread pools are pinned on purpose: on a 2-core machine 2 OpenMP threads next to
# anything else measured 6-13x slowdowns. Every child process gets these, whatever the parent has.
PINNED_THREADS = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


class WorkerError(RuntimeError):
    """A benchmark subprocess failed; the message carries the tail of its stderr."""


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent's environment with thread pools pinned and no ASSAY_* settings (which could
    point a child at someone's real stores)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env.update(PINNED_THREADS)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


def run_json(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
             timeout_s: float = 1800) -> dict[str, Any]:
    """Run a worker and return the JSON object on the last line of its stdout."""
    done = subprocess.run(
        list(argv), env=dict(env or child_env()), cwd=cwd, capture_output=True, text=True,
        timeout=timeout_s, check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-25:])
        raise WorkerError(f"{' '.join(map(str, argv))} exited {done.returncode}:\n{tail}")
    lines = [line for line in done.stdout.strip().splitlines() if line.strip()]
    if not lines:
        raise WorkerError(f"{' '.join(map(str, argv))} printed no JSON result")
    return json.loads(lines[-1])


# A fresh interpreter per measured command: its RUSAGE_CHILDREN then covers exactly one child
# (plus that child's own waited-for children), so ru_maxrss is that command's peak RSS.
_MEASURE_CHILD = r"""
import json, resource, subprocess, sys, time
argv = json.loads(sys.argv[1])
t0 = time.perf_counter()
done = subprocess.run(argv, capture_output=True, text=True)
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"returncode": done.returncode, "wall_s": wall, "max_rss_kib": ru.ru_maxrss,
                  "user_s": ru.ru_utime, "sys_s": ru.ru_stime,
                  "stdout": done.stdout, "stderr_tail": done.stderr[-4000:]}))
"""


def measure_command(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                    cwd: Path | None = None) -> dict[str, Any]:
    """Wall time, peak RSS and CPU time of one command, as a user running it would see it."""
    result = run_json([sys.executable, "-c", _MEASURE_CHILD, json.dumps(list(argv))], env=env, cwd=cwd)
    if result["returncode"] != 0:
        raise WorkerError(f"{' '.join(argv)} exited {result['returncode']}:\n{result['stderr_tail']}")
    return result


def summarise(values: Sequence[float], unit: str, *, digits: int = 4, **extra: Any) -> dict[str, Any]:
    """Median, min, max and every run (rounded), plus any extra fields."""
    values = [float(v) for v in values]
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "unit": unit,
        "n": len(values),
        "runs": [round(v, digits) for v in values],
        **extra,
    }


def verdict(metrics: Mapping[str, Mapping[str, Any]], metric: str, *, below: float, unit: str,
            source: str) -> dict[str, Any]:
    """Whether a metric's median is under its target."""
    observed = metrics[metric]["median"]
    return {"metric": metric, "op": "<", "threshold": below, "unit": unit, "observed": observed,
            "met": observed < below, "source": source}


def machine_info() -> dict[str, Any]:
    import platform

    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "executable": sys.executable,
    }
    try:
        info["cpu_model"] = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    try:
        mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal"))
        info["memory_gib"] = round(mem_kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return info


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def venv_python(explicit: str | None, *, env_var: str, default: Path, option: str, setup: str) -> str | None:
    """The python of a baseline's own venv: `explicit`, else `$env_var`, else `default` if it exists
    (None: the baseline is reported as not measured). A named one that does not exist stops the run."""
    chosen = explicit or os.environ.get(env_var) or None
    if chosen:
        if not Path(chosen).exists():
            raise SystemExit(f"{option} {chosen!r} does not exist; run bash {setup}")
        return chosen
    return str(default) if default.exists() else None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
