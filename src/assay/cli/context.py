"""What every command shares: the project folder, debug mode, and opening the project."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # opening a project imports the stores; commands that never open one do not pay for it
    from assay.project.workspace import Project


@dataclass
class CliState:
    project_dir: Path = Path(".")
    debug: bool = False


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def open_project(ctx: typer.Context) -> Project:
    from assay.project.settings import Settings
    from assay.project.workspace import Project

    return Project.open(state(ctx).project_dir, settings=Settings())


JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document on stdout instead of tables.")

__all__ = ["JSON_OPTION", "CliState", "open_project", "state"]
