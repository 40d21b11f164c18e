"""The project spec: pydantic models, YAML loading with file:line errors, JSON Schema export."""

from __future__ import annotations

from assay.spec.loader import SPEC_FILENAME, dump_spec, load_spec, parse_spec, spec_json_schema, spec_sha256
from assay.spec.model import (
    ColumnSchema,
    DataSchema,
    DataSpec,
    DriftSpec,
    EvaluationSpec,
    FeatureSelection,
    LeakageSpec,
    ModelSpec,
    Spec,
    SplitSpec,
    Waiver,
)

__all__ = [
    "SPEC_FILENAME",
    "ColumnSchema",
    "DataSchema",
    "DataSpec",
    "DriftSpec",
    "EvaluationSpec",
    "FeatureSelection",
    "LeakageSpec",
    "ModelSpec",
    "Spec",
    "SplitSpec",
    "Waiver",
    "dump_spec",
    "load_spec",
    "parse_spec",
    "spec_json_schema",
    "spec_sha256",
]
