"""Rendering for the CLI: JSON on stdout for machines, rich tables for people, progress on stderr."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=_default) + "\n")
    sys.stdout.flush()


PIPE_WIDTH = 160  # when stdout is not a terminal, do not squeeze tables into 80 columns


def stdout() -> Console:
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=True, width=PIPE_WIDTH)
    return console


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    result = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(*_cells(row))
    return result


def _cells(row: Sequence[Any]) -> list[Text | str]:
    """Cells are data, not markup: a column named `sex` in `metric[sex]` must stay visible. A
    `Text` passes through as it is (a caller that styles a cell builds one)."""
    return [cell if isinstance(cell, Text) else Text("" if cell is None else str(cell)) for cell in row]


def fmt_metric(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("-" if value is None else str(value))


def fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def key_values(pairs: Mapping[str, Any]) -> Table:
    result = Table(show_header=False, box=None, pad_edge=False)
    result.add_column(style="bold")
    result.add_column(overflow="fold")
    for key, value in pairs.items():
        result.add_row(key, "" if value is None else str(value))
    return result


@dataclass
class RichReporter:
    """Progress for long steps: a spinner while a stage runs, a tick with its time when it ends."""

    console: Console
    quiet: bool = False

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.quiet:
            yield
            return
        started = time.perf_counter()
        with self.console.status(f"{name}…", spinner="dots"):
            yield
        self.console.print(f"[green]✓[/] {name} [dim]({time.perf_counter() - started:.1f}s)[/]")

    def note(self, message: str) -> None:
        if not self.quiet:
            style = "yellow" if message.startswith("warning") else "dim"
            self.console.print(f"[{style}]{message}[/]")


def gates_table(gates: Sequence[Mapping[str, Any]], *, title: str) -> Table:
    """The evaluation gates as a table: gate, value, threshold, verdict (and why)."""
    rows = [
        [
            g["gate"],
            "n/a" if g.get("value") is None else fmt_metric(g["value"]),
            g.get("threshold", ""),
            "PASS" if g["passed"] else "FAIL",
            g.get("detail", ""),
        ]
        for g in gates
    ]
    return table(title, ["gate", "value", "threshold", "verdict", "detail"], rows)


def costs_table(costs: Mapping[str, Mapping[str, Any]]) -> Table:
    """Where the time went: wall time, CPU time and peak memory of each stage (a run's, a scoring job's)."""
    def number(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    rows = [[stage, number(c.get("wall_s"), ".2f"), number(c.get("cpu_s"), ".2f"), number(c.get("peak_rss_mib"), ",.0f")]
            for stage, c in costs.items()]
    return table("where the time went", ["stage", "wall s", "CPU s", "peak RSS MiB"], rows)


@contextmanager
def scan_progress(*, enabled: bool = True) -> Iterator[Callable[[str, int], None] | None]:
    """A live "source: N rows checked" line on stderr while files stream (nothing when disabled
    or when stderr is not a terminal, so logs and --json output stay clean)."""
    console = stderr()
    if not enabled or not console.is_terminal:
        yield None
        return
    started = time.perf_counter()
    with console.status("reading…", spinner="dots") as status:

        def update(source: str, rows: int) -> None:
            rate = rows / max(time.perf_counter() - started, 1e-9)
            status.update(f"{source}: {rows:,} rows checked ({rate:,.0f} rows/s)")

        yield update


__all__ = ["RichReporter", "costs_table", "fmt_metric", "fmt_time", "gates_table", "key_values", "print_json", "scan_progress", "stderr", "stdout", "table"]
