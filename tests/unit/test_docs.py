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


# Modules that define AssayError subclasses outside assay.errors; importing them registers their classes.
ERROR_MODULES = [
    "assay.errors",
    "assay.security",
    "assay.security.keys",
    "assay.security.secrets",
    "assay.security.tokens",
    "assay.serving.app",
    "assay.serving.request",
    "assay.serving.batcher",
    "assay.serving.predlog",
    "assay.serving.auth",
    "assay.project.deployment",
    "assay.project.access",
    "assay.batch.errors",
    "assay.monitoring.errors",
    "assay.monitoring.labels",
    "assay.monitoring.quality",
    "assay.monitoring.alerts",
    "assay.monitoring.check",
    "assay.monitoring.server_metrics",
    "assay.monitoring.erasure",
    "assay.security.identity",
    "assay.project.approvals",
]
for _module in ERROR_MODULES:
    importlib.import_module(_module)

# Codes that never reach a user, so they have no page. Keep this short and say why for each.
INTERNAL_CODES = {
    # Base classes, never raised as they are: a user sees a subclass's code.
    "auth-error": "base of the auth-* errors",
    "auth-unauthenticated": "base of the 401 auth-* errors",
    "serving-error": "base of the serving errors",
    "predlog-error": "base of the prediction-log errors",
    # Handled inside the server: the fallback answers, or the client gets model-unavailable.
    "serving-timeout": "deadline missed; answered by the fallback (fallback_reason timeout)",
    "serving-model-error": "model raised; answered by the fallback (fallback_reason model-error)",
    "serving-unavailable": "batcher stopped; answered by the fallback (fallback_reason unavailable)",
    # Guards against programming errors: the HTTP layer checks first, so they cannot be reached from a request.
    "serving-invalid-request": "batcher guard (no rows, NaN deadline); parse_body refuses empty rows first",
    "predlog-record": "inconsistent PredictionRecord built by the server itself: a bug",
    "predlog-closed": "append after close during shutdown: a bug",
    "token-unsupported-type": "the server only tokenises JSON scalars, which all have a canonical text",
    # Shed before they happen (serving-overloaded) or caught, counted and logged by type only.
    "predlog-backpressure": "the server sheds with serving-overloaded before the log blocks",
    "predlog-write-failed": "caught by the server; counted in metrics and logged by class name",
}


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _all_error_codes() -> list[str]:
    """Every `code` defined (not inherited) on an AssayError subclass in an assay module."""
    classes = {errors.AssayError, *_subclasses(errors.AssayError)}
    return sorted({
        cls.__dict__["code"]
        for cls in classes
        if cls.__module__.startswith("assay.") and "code" in cls.__dict__
    })


def _error_codes() -> list[str]:
    """The codes a user can see: every code except the documented internal ones."""
    return [code for code in _all_error_codes() if code not in INTERNAL_CODES]


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
    assert {"auth-forbidden", "model-unavailable", "deployment-error", "key-name", "secret-empty"} <= set(codes)
    defined = [
        cls.__dict__["code"]
        for cls in {errors.AssayError, *_subclasses(errors.AssayError)}
        if cls.__module__.startswith("assay.") and "code" in cls.__dict__
    ]
    assert len(defined) == len(set(defined)), "two error classes share a code"


def test_internal_codes_exist() -> None:
    stale = set(INTERNAL_CODES) - set(_all_error_codes())
    assert not stale, f"INTERNAL_CODES lists codes no class defines: {sorted(stale)}"


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
