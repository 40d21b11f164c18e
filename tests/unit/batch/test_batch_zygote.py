"""The zygote never imports polars (forking it must stay safe), and the CLI starts it early only for
`assay score` on the local engine."""

from __future__ import annotations

import subprocess
import sys

import pytest

from assay.cli.entry import command_of, scores_locally


def test_the_zygote_preloads_the_model_libraries_without_polars() -> None:
    code = ("import sys; from assay.batch.zygote import preload; preload(); "
            "print('polars' in sys.modules, 'sklearn.ensemble' in sys.modules, 'skops.io' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["False", "True", "True"]


@pytest.mark.parametrize(("args", "expected"), [
    (["score", "m:1", "-i", "in", "-o", "out"], True),
    (["-C", "proj", "--debug", "score", "m:1", "-i", "in", "-o", "out"], True),
    (["--project", "score", "score", "m:1"], True),  # a project folder named "score" is not the command
    (["score", "m:1", "--engine", "local"], True),
    (["score", "m:1", "--engine=local"], True),
    (["score", "m:1", "--engine", "ray"], False),
    (["score", "m:1", "--engine=ray"], False),
    (["score", "--help"], False),
    (["-C", "score", "models", "list"], False),
    (["serve"], False),
    ([], False),
])
def test_the_cli_starts_the_zygote_early_only_for_local_scoring(args: list[str], expected: bool) -> None:
    assert scores_locally(args) is expected


def test_the_command_is_found_after_the_global_options() -> None:
    assert command_of(["-C", "x", "--debug", "score", "a", "-o", "b"]) == ("score", ["a", "-o", "b"])
    assert command_of(["--debug"]) == (None, [])
