"""What a leakage detector reports (`Finding`) and what it is told about the data (`Declarations`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, SupportsInt

Kind = Literal[
    "duplicate_rows",
    "near_duplicate_rows",
    "entity_overlap",
    "test_before_train",
    "feature_after_prediction_time",
    "target_proxy",
    "target_copy",
    "missingness_proxy",
    "target_name_hint",
    "identifier_encodes_target",
    "row_order_encodes_target",
    "preprocessing_before_split",
    "test_split_reuse",
    "unrepresentative_test",
]
Severity = Literal["info", "warning", "critical"]

KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]
SEVERITY_RANK: Mapping[str, int] = {"critical": 0, "warning": 1, "info": 2}
MAX_EXAMPLES = 20


@dataclass(frozen=True, slots=True)
class Finding:
    """One suspected leak. `test_rows` are 0-based positions in the test frame and `entities` are
    entity keys; both hold at most MAX_EXAMPLES examples, and the `*_count` fields say how many
    there are in all."""

    kind: Kind
    severity: Severity
    message: str
    fix: str
    columns: tuple[str, ...] = ()
    test_rows: tuple[int, ...] = ()
    test_row_count: int = 0
    entities: tuple[str, ...] = ()
    entity_count: int = 0
    evidence: Mapping[str, float | int | str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
            "columns": list(self.columns),
            "test_rows": list(self.test_rows),
            "test_row_count": self.test_row_count,
            "entities": list(self.entities),
            "entity_count": self.entity_count,
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class Declarations:
    """What the caller knows about the columns. `feature_time` maps a feature to the column holding
    when its value was observed; `features` lists the intended features (default: every column
    that has no declared role)."""

    target: str
    time: str | None = None
    prediction_time: str | None = None
    entity: str | None = None
    entity_may_cross: bool = False
    id_columns: tuple[str, ...] = ()
    feature_time: Mapping[str, str] = field(default_factory=dict)
    features: tuple[str, ...] | None = None

    @property
    def as_of(self) -> str | None:
        """The column holding each row's prediction time: `prediction_time`, else `time`."""
        return self.prediction_time or self.time

    def role_columns(self) -> tuple[str, ...]:
        """Every column with a declared role (not a feature), in declaration order, once each."""
        named = [self.target, self.time, self.prediction_time, self.entity, *self.id_columns, *self.feature_time.values()]
        return tuple(dict.fromkeys(c for c in named if c is not None))

    def feature_columns(self, columns: Sequence[str]) -> tuple[str, ...]:
        """The intended features among `columns`."""
        if self.features is not None:
            return tuple(self.features)
        roles = set(self.role_columns())
        return tuple(c for c in columns if c not in roles)


def examples(positions: Iterable[SupportsInt]) -> tuple[tuple[int, ...], int]:
    """The first MAX_EXAMPLES positions (ascending) and how many there are in all."""
    ordered = sorted(int(p) for p in positions)
    return tuple(ordered[:MAX_EXAMPLES]), len(ordered)


def example_entities(keys: Iterable[object]) -> tuple[tuple[str, ...], int]:
    """The first MAX_EXAMPLES entity keys (sorted as text) and how many there are in all."""
    ordered = sorted({str(k) for k in keys})
    return tuple(ordered[:MAX_EXAMPLES]), len(ordered)


__all__ = ["KINDS", "MAX_EXAMPLES", "SEVERITY_RANK", "Declarations", "Finding", "Kind", "Severity", "example_entities", "examples"]
