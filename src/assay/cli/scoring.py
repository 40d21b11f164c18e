"""`assay score`: batch scoring, chunked, idempotent and resumable."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING

import typer
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from assay.batch.options import DEFAULT_CHUNK_ROWS, ScoreOptions
from assay.cli.context import JSON_OPTION, open_project
from assay.cli.output import costs_table, key_values, print_json, stderr, stdout, table

if TYPE_CHECKING:
    from assay.batch.job import Engine, ScoreSummary


class EngineName(str, Enum):
    local = "local"
    ray = "ray"


class _RowsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} rows/s", style="cyan")


class _Rows(ProgressColumn):
    def render(self, task: Task) -> Text:
        total = "?" if task.total is None else f"{int(task.total):,}"
        return Text(f"{int(task.completed):,}/{total} rows")


@contextmanager
def _progress(enabled: bool) -> Iterator[tuple[Callable[[int, int | None], None] | None, Callable[[str], None]]]:
    """A progress bar (rows, rows/s, ETA) on stderr when it is a terminal; event lines (resumed,
    retried, re-queued, warnings) on stderr always, so logs of scheduled runs keep them."""
    console = stderr()

    def event(message: str) -> None:
        style = "yellow" if message.startswith("warning") else "dim"
        console.print(f"[{style}]{message}[/]", highlight=False)

    if not enabled or not console.is_terminal:
        yield None, event
        return
    columns = (TextColumn("scoring"), BarColumn(), TaskProgressColumn(), _Rows(), _RowsPerSecond(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("score", total=None)
        started = False

        def update(done: int, total: int | None) -> None:
            nonlocal started
            if not started:  # rows an earlier run committed do not count toward the speed
                bar.reset(task, total=total, completed=done)
                started = True
            bar.update(task, completed=done, total=total)

        yield update, event


def score_command(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="NAME:VERSION, NAME@ALIAS (e.g. credit-default@production) or NAME (the newest)."),
    input_url: str = typer.Option(..., "--input", "-i", help="A Parquet or CSV file, a folder of them, or a glob; any fsspec URL (s3://...)."),
    output_url: str = typer.Option(..., "--output", "-o", help="Folder for the scored parts, the quarantine and the manifest; any fsspec URL."),
    engine: EngineName = typer.Option(EngineName.local, "--engine", help="local: processes on this machine; ray: a Ray cluster."),
    address: str = typer.Option(None, "--address", help="Ray only: the cluster (ray://HOST:10001, or auto); default: RAY_ADDRESS, else a local Ray."),
    workers: int = typer.Option(None, "--workers", min=1, max=1024, help="Worker processes (local) or actors (ray); default: one per core."),
    chunk_rows: int = typer.Option(DEFAULT_CHUNK_ROWS, "--chunk-rows", min=1, help="Rows per chunk, the unit of work, commit and retry."),
    chunk_timeout_s: float = typer.Option(600.0, "--chunk-timeout", min=0.1, help="Seconds a chunk may take before its worker counts as hung and is replaced."),
    max_attempts: int = typer.Option(3, "--max-attempts", min=1, max=20, help="Tries per chunk when its worker hangs or dies."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Score a dataset with a registered model: chunked, safe to re-run, resumable after a crash.

    Every input row is checked against the model signature and the spec's schema checks first; rows that fail go to OUTPUT/quarantine/ with the checks they failed, and are counted in the summary. Scored rows carry row_index (their position in the input), the spec's data.id column when the input has it, the score, and the model, its version and its training run.

    The same command again is a no-op when the job finished, and resumes it when it did not (after Ctrl-C, a crash or kill -9): only chunks without a commit record are scored, and the output is byte for byte what one uninterrupted run writes. See docs/scoring.md.

    Examples:  assay score credit-default@production --input data/new.parquet --output scores/2026-11-28   ·   assay score credit-default:3 -i s3://bucket/in/ -o s3://bucket/out/ --engine ray --address ray://head:10001
    """
    from assay.batch.local import LocalEngine
    from assay.batch.output import OutputLocation, normalise_url

    chosen: Engine
    if engine is EngineName.ray:
        from assay.batch.ray_engine import RayEngine

        chosen = RayEngine(address=address, workers=workers)
    else:
        if address:
            raise typer.BadParameter("--address applies to --engine ray only", param_hint="--address")
        chosen = LocalEngine(workers)
        if OutputLocation.from_url(normalise_url(output_url)).manifest() is None:
            chosen.start()  # the workers import the model stack while this process imports the rest
    from assay.batch.job import score
    options = ScoreOptions(chunk_rows=chunk_rows, chunk_timeout_s=chunk_timeout_s, max_attempts=max_attempts)
    started = time.perf_counter()
    with open_project(ctx) as project, _progress(not as_json) as (progress, on_event):
        summary = score(project, model, input_url=input_url, output_url=output_url, engine=chosen, options=options,
                        progress=progress, on_event=on_event)
    if as_json:
        print_json(summary.to_dict())
        return
    _print_summary(summary, time.perf_counter() - started)


def _print_summary(summary: ScoreSummary, wall_s: float) -> None:
    console = stdout()
    if summary.status == "complete":
        console.print(f"job {summary.job_id} is already complete: nothing to do")
    pairs = {
        "job": summary.job_id,
        "model": summary.model,
        "output": summary.output,
        "status": {"scored": "scored", "resumed": "resumed and finished", "complete": "already complete"}[summary.status],
        "rows": f"{summary.rows:,} in {summary.chunks} chunk(s)"
        + (f", {summary.chunks_scored} scored now" if summary.status == "resumed" else ""),
        "scored": f"{summary.scored:,}",
        "quarantined": f"{summary.quarantined:,}" + (f" → {summary.quarantine}" if summary.quarantine else ""),
    }
    if summary.status != "complete":
        pairs["engine"] = summary.engine
        pairs["time"] = f"{wall_s:.1f} s ({summary.rows_per_s:,.0f} rows/s)"
    if summary.retries:
        pairs["retried I/O"] = f"{len(summary.retries)} time(s)"
    if summary.requeued:
        pairs["re-queued"] = f"{len(summary.requeued)} chunk(s) (hung or lost workers)"
    console.print(key_values(pairs))
    if summary.reasons:
        rows = [[reason.split(":", 1)[0], reason.split(":", 1)[-1], f"{count:,}"] for reason, count in summary.reasons.items()]
        console.print(table("quarantined rows by failed check", ["check", "column", "rows"], rows))
    if summary.costs and summary.status != "complete":  # the coordinator's stages, then the workers' chunks
        console.print(costs_table(summary.costs))


__all__ = ["score_command"]
