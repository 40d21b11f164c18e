"""Versioned feature definitions and point-in-time (as-of) joins."""

from __future__ import annotations

from assay.features.asof import ComputedFeatures, asof_join, compute_features
from assay.features.definition import (
    AGGREGATIONS,
    Aggregation,
    AggregationKind,
    FeatureDefinition,
    load_definitions,
    parse_definitions,
)

__all__ = [
    "AGGREGATIONS",
    "Aggregation",
    "AggregationKind",
    "ComputedFeatures",
    "FeatureDefinition",
    "asof_join",
    "compute_features",
    "load_definitions",
    "parse_definitions",
]
