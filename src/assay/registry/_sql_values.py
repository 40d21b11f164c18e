"""Checking and normalising values on their way into the metadata store."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def utc(value: datetime, field: str) -> datetime:
    """`value` converted to UTC; ValueError if it is naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field} must be a timezone-aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def json_object(value: Mapping[str, Any], field: str) -> dict[str, Any]:
    """A plain JSON copy of a mapping (nested Mappings and tuples included).

    NaN and infinity are refused, so every backend stores the same standard JSON.
    """
    try:
        plain = json.loads(json.dumps(value, default=_plain, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{field} must be JSON-serialisable: {exc}") from exc
    if not isinstance(plain, dict):
        raise ValueError(f"{field} must be a mapping, got {type(value).__name__}")
    return plain


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def positive_limit(limit: int) -> int:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return limit
