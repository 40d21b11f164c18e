"""The `assay` executable's first module: it may start work that must not wait for the CLI's imports.

`assay score` on the local engine needs its workers' zygote (`assay.batch.zygote`), which spends
about two seconds importing scikit-learn and friends. Started here, before typer, rich and the
command modules load, that time overlaps with the CLI's own start-up instead of following it. The
arguments are only peeked at; `assay.cli.main` parses them as always, and a zygote that the command
does not use is stopped at exit (and dies with this process in any case).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

_GLOBAL_OPTIONS_WITH_VALUE = frozenset({"-C", "--project"})


def command_of(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """The command name and the arguments after it, skipping the global options before it."""
    items = list(args)
    index = 0
    while index < len(items):
        item = items[index]
        if item in _GLOBAL_OPTIONS_WITH_VALUE:
            index += 2
        elif item.startswith("-"):
            index += 1
        else:
            return item, items[index + 1:]
    return None, []


def scores_locally(args: Sequence[str]) -> bool:
    """Whether the command line asks for `assay score` on the local engine (not its help)."""
    command, rest = command_of(args)
    if command != "score" or any(a in ("-h", "--help") for a in rest):
        return False
    for index, item in enumerate(rest):
        if item == "--engine" and index + 1 < len(rest):
            return rest[index + 1] == "local"
        if item.startswith("--engine="):
            return item.split("=", 1)[1] == "local"
    return True


def main() -> None:
    if scores_locally(sys.argv[1:]):
        from assay.batch.local import prestart

        prestart()
    from assay.cli.main import main as run_cli

    run_cli()


__all__ = ["command_of", "main", "scores_locally"]
