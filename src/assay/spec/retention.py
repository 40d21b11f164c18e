"""The `retention:` section of the spec: how long `assay gc` keeps prediction logs, labels,
quarantined rows and dataset snapshots. Every policy defaults to null, which keeps everything:
nothing is ever deleted unless the spec declares it."""

from __future__ import annotations

from pydantic import Field

from assay.spec.base import SpecModel
from assay.spec.monitoring import Duration


class SnapshotRetention(SpecModel):
    """Which dataset snapshots `assay gc` may delete. A snapshot goes only when it is past *both*
    limits that are set (older than max_age and not among the newest keep_last of its dataset)
    and no run of a registered model that is not archived trained on it."""

    keep_last: int | None = Field(
        None, ge=1, strict=True,
        description="Keep the newest N versions of each dataset whatever their age (null: no count limit).",
    )
    max_age: Duration | None = Field(
        None, description="Delete snapshots of dataset versions created longer ago than this (null: no age limit).",
    )
    include_archived_models: bool = Field(
        False,
        description="Also delete snapshots that only archived models trained on (their `assay reproduce` then "
        "fails); snapshots of candidate, approved or rejected models are never deleted.",
    )

    @property
    def is_set(self) -> bool:
        return self.keep_last is not None or self.max_age is not None


class RetentionSpec(SpecModel):
    """How long each kind of stored data is kept; null (the default) keeps it forever."""

    prediction_logs: Duration | None = Field(
        None, description="Delete prediction-log hour partitions that ended longer ago than this.",
    )
    labels: Duration | None = Field(
        None, description="Delete stored label files (one per `assay labels ingest`) ingested longer ago than this.",
    )
    quarantine: Duration | None = Field(
        None, description="Delete the snapshots of ingest quarantine dataset versions created longer ago than this.",
    )
    snapshots: SnapshotRetention = Field(
        default_factory=SnapshotRetention,
        description="Dataset snapshot policy: keep_last, max_age, include_archived_models.",
    )


__all__ = ["RetentionSpec", "SnapshotRetention"]
