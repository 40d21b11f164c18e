"""Helpers for the batch scoring tests: inputs with planted bad rows, the CLI in a subprocess,
and an output folder read back as {relative path: bytes} for byte-for-byte comparisons."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from fsspec.implementations.local import LocalFileSystem

from assay.project.demo import example_dir

# Rows the checks must quarantine, with the check each one fails (positions in the written input).
PLANTED = {
    7: ("amount", -5.0, "range:amount"),  # spec: min 0
    11: ("purpose", "lottery", "allowed:purpose"),  # not in the allowed set
    12: ("debt_to_income", None, "not_null:debt_to_income"),  # not nullable
}


def make_input(path: Path, *, rows: int, seed: int = 11, row_group_rows: int = 5_000, planted: bool = True) -> Path:
    """A scoring input shaped like the demo's data (Parquet or CSV by suffix), with PLANTED bad rows."""
    sys.path.insert(0, str(example_dir("credit")))
    try:
        import generate  # the example's own generator
    finally:
        sys.path.pop(0)
    frame = generate.generate(n_rows=rows, seed=seed).drop("defaulted")
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in ("home_ownership", "purpose", "region", "sex"))
    if planted:
        for position, (column, value, _) in PLANTED.items():
            if position < rows:
                frame = frame.with_columns(
                    pl.when(pl.int_range(pl.len()) == position).then(pl.lit(value, dtype=frame.schema[column]))
                    .otherwise(pl.col(column)).alias(column))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.write_csv(path)
    else:
        frame.write_parquet(path, row_group_size=row_group_rows)
    return path


def score_argv(model: str, input_path: Path | str, output: Path | str, *args: str) -> list[str]:
    return [sys.executable, "-m", "assay", "score", model, "--input", str(input_path), "--output", str(output), *args]


def run_score(project_dir: Path, model: str, input_path: Path | str, output: Path | str, *args: str,
              env: Mapping[str, str] | None = None, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    """`assay score` to completion in a subprocess (the CLI as a user runs it)."""
    return subprocess.run(score_argv(model, input_path, output, *args), cwd=project_dir, capture_output=True,
                          text=True, timeout=timeout_s, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
                          check=False)


def start_score(project_dir: Path, model: str, input_path: Path | str, output: Path | str, *args: str,
                env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`assay score` started in a subprocess, to be killed by the test."""
    return subprocess.Popen(score_argv(model, input_path, output, *args), cwd=project_dir,
                            env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def output_files(folder: Path, *, skip: Sequence[str] = ()) -> dict[str, bytes]:
    """Every file of an output folder (temporary dot files included, so leftovers are seen)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            relative = path.relative_to(folder).as_posix()
            if not any(relative.startswith(prefix) for prefix in skip):
                found[relative] = path.read_bytes()
    return found


def data_files(folder: Path) -> dict[str, bytes]:
    """The files that hold rows (scored parts and quarantine): what must match byte for byte across
    runs of the same job, wherever its output lives."""
    return {k: v for k, v in output_files(folder).items() if k.endswith(".parquet")}




class FaultyFileSystem(LocalFileSystem):
    """Local files with faults injected on writes, counted in `faults_dir` so that every worker
    process sees the same plan: `fail` maps a file name (e.g. 'part-00002.parquet') to how many of
    its writes fail with EIO (a transient error); `hang` names files whose first write never ends
    (the hanging worker's pid goes into `faults_dir/hang-NAME`)."""

    def __init__(self, faults_dir: str, fail: Mapping[str, int] | None = None, hang: Sequence[str] = (),
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.faults_dir = faults_dir
        self.fail = dict(fail or {})
        self.hang = tuple(hang)

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        name = path.rsplit("/", 1)[-1]
        target = name[1:].split(".tmp-", 1)[0] if name.startswith(".") else name
        folder = Path(self.faults_dir)
        marker = folder / f"hang-{target}"
        if target in self.hang and _first_time(marker):
            marker.write_text(str(os.getpid()))  # which worker hangs, for tests that kill it
            time.sleep(3600)  # a hung write: the job's chunk timeout must notice and replace the worker
        if target in self.fail:
            count = len(list(folder.glob(f"fail-{target}-*")))
            if count < self.fail[target]:
                (folder / f"fail-{target}-{count}-{os.getpid()}").touch()
                raise OSError(errno.EIO, f"injected I/O error writing {target}")
        super().pipe_file(path, value, mode=mode, **kwargs)


def _first_time(marker: Path) -> bool:
    try:
        marker.touch(exist_ok=False)
    except FileExistsError:
        return False
    return True


def injected_failures(faults_dir: Path) -> list[str]:
    return sorted(p.name for p in faults_dir.glob("fail-*"))


__all__ = ["PLANTED", "FaultyFileSystem", "data_files", "injected_failures", "make_input", "output_files", "run_score",
           "score_argv", "start_score"]
