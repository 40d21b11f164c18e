"""Versioned feature definitions: what a feature computes, and a content hash naming that.

A feature is a small declarative aggregation over one event table (``source``): for each
entity, an aggregate (``sum``, ``mean``, ``count``, ``max``, ``min``, ``last``) of one column
over the events strictly before a point in time, optionally within the last ``window_days``.

``version`` is the first 12 hex digits of the sha256 of the definition's canonical JSON
(sorted keys, no whitespace) over every field that changes the feature's values: name,
entity, timestamp, source and the aggregation. The description is left out, so rewording it
keeps the version; any other change gives a new one.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast, get_args

from assay.errors import SpecError
from assay.spec.model import FeatureAggregation

AggregationKind = FeatureAggregation
AGGREGATIONS: tuple[str, ...] = get_args(AggregationKind)
VERSION_LENGTH = 12

_DEFINITION_FIELDS = ("name", "entity", "timestamp", "source", "expression", "description")
_EXPRESSION_FIELDS = ("agg", "column", "window_days")
_HINT = "see docs/features.md for the `features:` format"


@dataclass(frozen=True, slots=True)
class Aggregation:
    """``agg`` of ``column`` over the entity's events, within the last ``window_days`` if set.

    ``count`` without a column counts events; with a column it counts non-null values.
    Every other aggregation needs a column.
    """

    agg: AggregationKind
    column: str | None = None
    window_days: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"agg": self.agg, "column": self.column, "window_days": self.window_days}


@dataclass(frozen=True, slots=True)
class FeatureDefinition:
    """One feature: ``expression`` over the ``source`` events of each ``entity`` before a time.

    ``entity`` and ``timestamp`` name columns of the source event table. Build one in code,
    or with :meth:`from_dict` / :func:`parse_definitions`, which check every field.
    """

    name: str
    entity: str
    timestamp: str
    source: str
    expression: Aggregation
    description: str = ""

    @property
    def version(self) -> str:
        """Short sha256 of the value-affecting content; stable across dict key order."""
        content = {k: v for k, v in self.to_dict().items() if k != "description"}
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:VERSION_LENGTH]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entity": self.entity,
            "timestamp": self.timestamp,
            "source": self.source,
            "expression": self.expression.to_dict(),
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureDefinition:
        """Parse the shape :meth:`to_dict` writes; raise SpecError naming feature and field."""
        if not isinstance(data, Mapping):
            raise SpecError(f"a feature definition must be a mapping, got {type(data).__name__}", hint=_HINT)
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise SpecError(f"feature definition {dict(data)!r}: field 'name' must be a non-empty string", hint=_HINT)
        return _parse_body(name, {k: v for k, v in data.items() if k != "name"})


def parse_definitions(features: Mapping[str, Any]) -> tuple[FeatureDefinition, ...]:
    """Parse the ``features:`` mapping of a spec: feature name → definition body.

    A body has ``entity``, ``timestamp``, ``source``, ``expression`` (``agg``, ``column``,
    ``window_days``) and an optional ``description``. Definitions come back sorted by name.
    """
    if not isinstance(features, Mapping):
        raise SpecError(f"features: must be a mapping of feature name to definition, got {type(features).__name__}",
                        hint=_HINT)
    parsed = []
    for name, body in features.items():
        if not isinstance(name, str) or not name:
            raise SpecError(f"features: feature name {name!r} must be a non-empty string", hint=_HINT)
        if not isinstance(body, Mapping):
            raise SpecError(f"feature {name!r}: definition must be a mapping, got {type(body).__name__}", hint=_HINT)
        if "name" in body and body["name"] != name:
            raise SpecError(f"feature {name!r}: field 'name' is {body['name']!r}, but the key says {name!r}",
                            hint="drop the 'name' field; the key is the feature's name")
        parsed.append(_parse_body(name, {k: v for k, v in body.items() if k != "name"}))
    return tuple(sorted(parsed, key=lambda d: d.name))


def load_definitions(reference: str, *, project_dir: Path | None = None) -> tuple[FeatureDefinition, ...]:
    """Import ``module:attribute`` and return its feature definitions, sorted by name.

    The attribute is a list or tuple of FeatureDefinition, or a function taking no arguments
    that returns one. Nothing else is accepted; names must be unique. With ``project_dir``,
    modules in that folder (beside assay.yaml) are importable too.
    """
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise SpecError(f"feature reference {reference!r} must look like 'package.module:attribute'", hint=_HINT)
    with _importable(project_dir):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise SpecError(f"feature reference {reference!r}: cannot import module {module_name!r}: {exc}",
                            hint="check the module is installed, on PYTHONPATH or beside assay.yaml") from exc
        except Exception as exc:  # user code boundary: any error while importing their module
            raise SpecError(f"feature reference {reference!r}: importing {module_name!r} failed: "
                            f"{type(exc).__name__}: {exc}",
                            hint=f"fix the error in {module_name}; `python -c 'import {module_name}'` shows it") from exc
        try:
            value = getattr(module, attribute)
        except AttributeError as exc:
            raise SpecError(f"feature reference {reference!r}: module {module_name!r} has no attribute {attribute!r}",
                            hint="define it as a list of FeatureDefinition") from exc
        if callable(value):
            try:
                value = value()
            except Exception as exc:  # user code boundary: their function failed
                raise SpecError(f"feature reference {reference!r}: calling {attribute}() failed: "
                                f"{type(exc).__name__}: {exc}", hint=f"fix {module_name}.{attribute}") from exc
    if not isinstance(value, list | tuple):
        raise SpecError(f"feature reference {reference!r}: expected a list of FeatureDefinition, "
                        f"got {type(value).__name__}", hint="return a list of assay.features.FeatureDefinition")
    bad = [i for i, item in enumerate(value) if not isinstance(item, FeatureDefinition)]
    if bad:
        raise SpecError(f"feature reference {reference!r}: items at positions {bad[:5]} are not FeatureDefinition",
                        hint="return a list of assay.features.FeatureDefinition")
    definitions = cast("Sequence[FeatureDefinition]", value)
    check_unique_names(definitions)
    return tuple(sorted(definitions, key=lambda d: d.name))


@contextmanager
def _importable(folder: Path | None) -> Iterator[None]:
    """Put ``folder`` first on sys.path for the duration (if it is not there already)."""
    entry = str(folder) if folder is not None else None
    added = entry is not None and entry not in sys.path
    if added:
        sys.path.insert(0, entry)  # type: ignore[arg-type]
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)  # type: ignore[arg-type]


def check_unique_names(definitions: Sequence[FeatureDefinition]) -> None:
    """Raise SpecError if two definitions share a name."""
    counts = Counter(d.name for d in definitions)
    duplicates = sorted(name for name, count in counts.items() if count > 1)
    if duplicates:
        raise SpecError(f"feature names must be unique; repeated: {duplicates}", hint="rename one of each pair")


def _parse_body(name: str, body: Mapping[str, Any]) -> FeatureDefinition:
    where = f"feature {name!r}"
    unknown = sorted(set(map(str, body)) - set(_DEFINITION_FIELDS))
    if unknown:
        raise SpecError(f"{where}: unknown fields {unknown}", hint=f"allowed fields: {list(_DEFINITION_FIELDS[1:])}")
    strings = {field: _required_str(where, body, field) for field in ("entity", "timestamp", "source")}
    description = body.get("description", "")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise SpecError(f"{where}: field 'description' must be a string, got {type(description).__name__}", hint=_HINT)
    if "expression" not in body:
        raise SpecError(f"{where}: missing field 'expression'", hint="e.g. expression: {agg: sum, column: amount}")
    expression = _parse_expression(where, body["expression"])
    return FeatureDefinition(name=name, expression=expression, description=description, **strings)


def _parse_expression(where: str, raw: Any) -> Aggregation:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: field 'expression' must be a mapping, got {type(raw).__name__}",
                        hint="e.g. expression: {agg: sum, column: amount, window_days: 30}")
    unknown = sorted(set(map(str, raw)) - set(_EXPRESSION_FIELDS))
    if unknown:
        raise SpecError(f"{where}: unknown fields {[f'expression.{u}' for u in unknown]}",
                        hint=f"allowed: {list(_EXPRESSION_FIELDS)}")
    agg = raw.get("agg")
    if agg not in AGGREGATIONS:
        raise SpecError(f"{where}: field 'expression.agg' is {agg!r}", hint=f"use one of {list(AGGREGATIONS)}")
    column = raw.get("column")
    if column is not None and (not isinstance(column, str) or not column):
        raise SpecError(f"{where}: field 'expression.column' must be a non-empty string, got {column!r}", hint=_HINT)
    if column is None and agg != "count":
        raise SpecError(f"{where}: field 'expression.column' is required for agg {agg!r}",
                        hint="name the event column to aggregate; only 'count' may omit it")
    window = raw.get("window_days")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
        raise SpecError(f"{where}: field 'expression.window_days' must be a whole number of days >= 1, got {window!r}",
                        hint="omit it to aggregate over all earlier events")
    return Aggregation(agg=cast("AggregationKind", agg), column=column, window_days=window)


def _required_str(where: str, body: Mapping[str, Any], field: str) -> str:
    if field not in body:
        raise SpecError(f"{where}: missing field {field!r}", hint=_HINT)
    value = body[field]
    if not isinstance(value, str) or not value:
        raise SpecError(f"{where}: field {field!r} must be a non-empty string, got {value!r}", hint=_HINT)
    return value
