"""`assay init`: write a commented assay.yaml for a user's own CSV or Parquet file."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from assay.data.schema import infer_schema
from assay.data.source import SourceRef, read_source
from assay.errors import DataSourceError, SpecError
from assay.spec.loader import SPEC_FILENAME, parse_spec
from assay.spec.model import DataSchema

_PII_NAMES = re.compile(
    r"(^|_)(name|first_?name|last_?name|full_?name|email|e_?mail|phone|mobile|ssn|passport|address|street|zip|postcode|ip|iban|card_?number|dob|birth_?date)($|_)",
    re.IGNORECASE,
)
_SENSITIVE_NAMES = re.compile(r"(^|_)(sex|gender|race|ethnicity|religion|age|nationality|marital_?status|disability)($|_)", re.IGNORECASE)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-._")
    return slug[:60] or "project"


def _flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def infer_task(target: pl.Series) -> str:
    distinct = target.drop_nulls().n_unique()
    if target.dtype.is_float() and distinct > 20:
        return "regression"
    if target.dtype.is_integer() and distinct > 20:
        return "regression"
    return "classification"


def render_init_spec(
    data: Path | str,
    *,
    target: str,
    project_dir: Path,
    time: str | None = None,
    entity: str | None = None,
    row_id: str | None = None,
    project: str | None = None,
) -> str:
    """Infer the schema of `data` and return a commented, valid assay.yaml as text."""
    source_text = str(data)
    ref = SourceRef.resolve(source_text, base_dir=Path.cwd())
    frame = read_source(ref)
    for role, column in (("--target", target), ("--time", time), ("--entity", entity), ("--id", row_id)):
        if column is not None and column not in frame.columns:
            raise DataSourceError(
                f"{ref.uri} has no column {column!r} (given as {role})",
                hint=f"columns are: {', '.join(frame.columns)}",
            )
    if row_id is None:
        row_id = next((c for c in frame.columns if c.lower() in ("id", "row_id") or c.lower().endswith("_id") and frame.get_column(c).n_unique() == frame.height), None)
        if row_id in (target, time, entity):
            row_id = None
    schema = infer_schema(frame, unique=[row_id] if row_id else [])
    task = infer_task(frame.get_column(target))
    pii = [c for c in frame.columns if _PII_NAMES.search(c) and c not in (target, time, entity, row_id)]
    sensitive = [c for c in frame.columns if _SENSITIVE_NAMES.search(c) and c not in (target, *pii)]
    if "://" in source_text:
        source = source_text
    else:
        source = os.path.relpath(Path(ref.uri), project_dir.resolve())
    strategy = "time" if time else ("group" if entity else ("stratified" if task == "classification" else "random"))
    estimator = (
        "sklearn.ensemble.HistGradientBoostingClassifier"
        if task == "classification"
        else "sklearn.ensemble.HistGradientBoostingRegressor"
    )
    name = project or _slug(Path(ref.uri).stem)
    lines = [
        "# Assay project spec: the single source of truth for this project.",
        f"# Written by `assay init` from {Path(ref.uri).name} ({frame.height} rows, {frame.width} columns).",
        "# Review every line marked REVIEW, then run `assay spec check` and `assay run`.",
        "# Reference: docs/spec.md · JSON Schema for editors: `assay spec schema`",
        "version: 1",
        f"project: {name}",
        "seed: 42                      # every random choice (split, model) derives from this",
        "",
        "data:",
        f"  source: {_flow(source)}",
        f"  target: {_flow(target)}" + f"   # task inferred: {task}",
    ]
    lines.append(f"  time: {_flow(time)}" if time else "  # time: COLUMN        # when each row happened; enables leakage-safe time splits")
    lines.append(f"  entity: {_flow(entity)}" if entity else "  # entity: COLUMN      # who a row is about; keeps an entity in one split")
    lines.append(f"  id: {_flow(row_id)}" if row_id else "  # id: COLUMN          # unique row id")
    lines.append(f"  pii: {_flow(pii)}" + ("            # REVIEW: guessed from column names; never features" if pii else "   # personal data columns: never features, masked in reports"))
    lines.append(f"  sensitive: {_flow(sensitive)}" + ("   # REVIEW: guessed; evaluation only, never features" if sensitive else "   # protected attributes: evaluation only"))
    lines.append("  schema:                      # REVIEW: inferred from the data, then frozen: every ingest is checked")
    lines += schema_yaml_lines(schema, indent="    ")
    lines += [
        "",
        "split:",
        f"  strategy: {strategy}" + {"time": "           # train on the past, test on the most recent rows", "group": "          # no entity in two splits", "stratified": "     # keeps the target rate in every split", "random": "         # shuffled"}[strategy],
        "  validation_fraction: 0.15",
        "  test_fraction: 0.2",
        "",
        "model:",
        f"  name: {name}-model",
        f"  task: {task}",
        "  flavor: sklearn              # sklearn | lightgbm | xgboost",
        f"  estimator: {estimator}",
        "  # factory: mymodule:build    # or your own Pipeline: a function returning an estimator",
        "  params: {}",
        "  preprocessing: auto          # Assay encodes categories and handles missing values",
        "  threads: 1",
        "",
        "leakage:                       # checked before every training run; critical findings block it",
        *(
            ["  entity_may_cross: false      # REVIEW: true if one entity may legitimately be in train and test"]
            if entity and strategy != "group"
            else []
        ),
        "  waivers: []                  # findings a person accepted: {kind, columns, reason}",
        "",
        "evaluation:",
        f"  primary: {'roc_auc' if task == 'classification' else 'rmse'}",
    ]
    text = "\n".join(lines) + "\n"
    parse_spec(text, source=SPEC_FILENAME)  # what init writes must always be valid
    return text


def schema_yaml_lines(schema: DataSchema, *, indent: str = "") -> list[str]:
    """A schema as compact YAML lines (one flow mapping per column), ready to sit under `schema:`."""
    lines = [f"{indent}min_rows: {schema.min_rows if schema.min_rows is not None else 0}", f"{indent}columns:"]
    for column, definition in schema.columns.items():
        body = definition.model_dump(mode="json", exclude_defaults=True, exclude_none=True)
        body.setdefault("type", definition.type)
        body["nullable"] = definition.nullable
        ordered = {k: body[k] for k in ("type", "nullable", "unique", "min", "max", "allowed", "format") if k in body}
        lines.append(f"{indent}  {_flow(column)}: {_flow(ordered)}")
    return lines


def infer_source_schema(data: Path | str, *, unique: Sequence[str] = ()) -> DataSchema:
    """Read a CSV or Parquet file and infer a starting schema for it."""
    frame = read_source(SourceRef.resolve(str(data), base_dir=Path.cwd()))
    return infer_schema(frame, unique=unique)


def write_init_spec(text: str, project_dir: Path, *, overwrite: bool) -> Path:
    """Write assay.yaml into `project_dir` atomically; refuse to replace one unless told to."""
    project_dir.mkdir(parents=True, exist_ok=True)
    path = project_dir / SPEC_FILENAME
    if path.exists() and not overwrite:
        raise SpecError(f"{path} already exists", hint="pass --force to replace it, or `assay -C OTHER_DIR init ...` to write elsewhere")
    temporary = path.with_suffix(".yaml.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return path


__all__ = ["infer_source_schema", "infer_task", "render_init_spec", "schema_yaml_lines", "write_init_spec"]
