"""The user documentation keeps up with the code: every error code, spec field and CLI command is documented."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from assay import errors
from assay.cli.main import app
from pydantic import BaseModel

import assay.spec
from assay.spec.model import Spec

DOCS = Path(__file__).resolve().parents[2] / "docs"
# Every pydantic model the spec package's modules define (a new section is checked without editing this test).
SPEC_MODULES = [importlib.import_module(f"assay.spec.{m.name}") for m in pkgutil.iter_modules(assay.spec.__path__)]
SPEC_MODELS = tuple(
    cls
    for module in SPEC_MODULES
    for _, cls in inspect.getmembers(module, inspect.isclass)
    if issubclass(cls, BaseModel) and cls.__module__ == module.__name__ and not cls.__name__.startswith("_")
    and cls.model_fields
)
assert Spec in SPEC_MODELS


def _error_codes() -> list[str]:
    """Every `code` defined on an exception class in assay.errors (defined there, not inherited)."""
    return sorted(
        cls.__dict__["code"]
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.AssayError) and "code" in cls.__dict__
    )


def _spec_keys() -> list[tuple[str, str]]:
    """(model, key as written in assay.yaml) for every field of the spec models."""
    return [
        (model.__name__, field.alias or name)
        for model in SPEC_MODELS
        for name, field in model.model_fields.items()
    ]


def _command_paths(command: object, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and subcommand under the root, as name paths: ("models",), ("models", "list"), ..."""
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        path = (*prefix, name)
        yield path
        yield from _command_paths(sub, path)


def test_error_codes_are_found() -> None:
    codes = _error_codes()
    assert "assay-error" in codes and "artifact-tampered" in codes
    assert len(codes) == len(set(codes)), "two error classes share a code"


@pytest.mark.parametrize("code", _error_codes())
def test_every_error_code_has_a_page(code: str) -> None:
    page = DOCS / "errors" / f"{code}.md"
    assert page.is_file(), f"error code {code!r} has no page: write docs/errors/{code}.md"
    assert f"`{code}`" in page.read_text(encoding="utf-8"), f"{page} does not name its code"


@pytest.mark.parametrize("code", _error_codes())
def test_every_error_code_is_in_the_index(code: str) -> None:
    index = (DOCS / "errors" / "README.md").read_text(encoding="utf-8")
    assert f"({code}.md)" in index, f"docs/errors/README.md does not link to {code}.md"


@pytest.mark.parametrize(("model", "key"), _spec_keys())
def test_every_spec_field_is_documented(model: str, key: str) -> None:
    text = (DOCS / "spec.md").read_text(encoding="utf-8")
    # As code (`key`) or as a YAML key (key:), so a stray English word does not count.
    pattern = re.compile(rf"`{re.escape(key)}`|^\s*{re.escape(key)}:", re.MULTILINE)
    assert pattern.search(text), f"{model}.{key} is not mentioned in docs/spec.md"


def test_the_spec_models_are_walked() -> None:
    keys = {key for _, key in _spec_keys()}
    assert {"schema", "gap_days", "include", "primary", "allowed"} <= keys
    assert "data_schema" not in keys, "DataSpec.data_schema is written `schema` in assay.yaml"


def test_the_command_tree_is_walked() -> None:
    paths = set(_command_paths(typer.main.get_command(app)))
    assert {("run",), ("models",), ("models", "list"), ("spec", "schema")} <= paths


@pytest.mark.parametrize("path", list(_command_paths(typer.main.get_command(app))), ids=" ".join)
def test_every_command_is_documented(path: tuple[str, ...]) -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    # The full command line, so `list` under `models` is not satisfied by `datasets list`.
    assert f"assay {' '.join(path)}" in text, f"`assay {' '.join(path)}` is not in docs/cli.md"
