"""What every spec section shares: the frozen, strict pydantic base and field-naming error messages."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

LOCATION_PREFIX = "@"


def at(field: str, message: str) -> str:
    """A validator message that names the field it concerns (relative to the model that raises it),
    so the loader can point at that field's line instead of the model's."""
    return f"{LOCATION_PREFIX}{field}: {message}"


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, ser_json_inf_nan="constants")


__all__ = ["LOCATION_PREFIX", "SpecModel", "at"]
