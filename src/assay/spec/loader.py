"""Load `assay.yaml` into a Spec, with errors that name file, line and field."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from assay.errors import SpecError, SpecNotFoundError
from assay.spec.base import LOCATION_PREFIX
from assay.spec.model import Spec

SPEC_FILENAME = "assay.yaml"


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the YAML node at `loc`, or of the deepest existing parent."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if match is None:
                return line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def _format_validation(exc: ValidationError, root: yaml.Node | None, source: str) -> SpecError:
    problems: list[tuple[int, str]] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = err["msg"].removeprefix("Value error, ")
        if message.startswith(LOCATION_PREFIX):
            # A cross-field rule named the field it concerns: point there, not at its parent.
            named, _, message = message[len(LOCATION_PREFIX) :].partition(": ")
            loc = (*loc, *named.split("."))
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(root, loc) or 0
        if err["type"] == "missing":
            message = "required field is missing"
        elif err["type"] == "extra_forbidden":
            message = "unknown field (check its spelling; `assay spec schema` lists every field)"
        elif err["type"] == "literal_error":
            message = f"{message}, got {err.get('input')!r}"
        problems.append((line, f"{source}:{line}: {field}: {message}"))
    problems.sort()
    count = len(problems)
    lines = "\n".join(text for _, text in problems)
    return SpecError(
        f"{source} has {count} problem{'s' if count != 1 else ''}:\n{lines}",
        hint="fix the lines above; `assay spec check` re-checks, `assay spec schema` prints the JSON Schema",
    )


def parse_spec(text: str, *, source: str = SPEC_FILENAME) -> Spec:
    """Parse spec YAML text. Raises SpecError naming `source`, line and field."""
    try:
        root = yaml.compose(text, Loader=_UniqueKeyLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(
            f"{where}: not valid YAML: {problem}", hint="check indentation and quoting around that line"
        ) from exc
    if data is None:
        raise SpecError(f"{source} is empty", hint="run `assay init --data FILE --target COLUMN` to write one")
    if not isinstance(data, dict):
        raise SpecError(f"{source}:1: the spec must be a mapping of fields, got {type(data).__name__}")
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        raise _format_validation(exc, root, source) from exc


def load_spec(path: Path | str) -> Spec:
    """Read and parse `assay.yaml` (or the file given)."""
    path = Path(path)
    if path.is_dir():
        path = path / SPEC_FILENAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecNotFoundError(
            f"no spec at {path}",
            hint="run this in a project folder, pass --project DIR, or create one with `assay init`",
        ) from exc
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path} is not UTF-8 text", hint="save the spec as UTF-8") from exc
    return parse_spec(text, source=str(path))


class _SpecDumper(yaml.SafeDumper):
    """Double-quotes strings holding characters YAML would read back as line breaks or spaces."""


_LINE_BREAKS = ("\x85", "\u2028", "\u2029")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if any(mark in value for mark in _LINE_BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_SpecDumper.add_representer(str, _represent_str)


def dump_spec(spec: Spec) -> str:
    """Canonical YAML for a spec (by alias, defaults included, keys in model order)."""
    data = spec.model_dump(mode="json", by_alias=True)
    return yaml.dump(data, Dumper=_SpecDumper, sort_keys=False, allow_unicode=True)


def spec_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def spec_json_schema() -> str:
    """JSON Schema of assay.yaml, for editors (yaml-language-server) and CI linters."""
    schema = Spec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Assay project spec (assay.yaml)"
    return json.dumps(schema, indent=2, sort_keys=True)
