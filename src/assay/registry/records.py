"""Domain records kept in the metadata store. Frozen values; stores return these, never ORM rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


PRODUCTION_ALIAS = "production"  # the alias servers answer with, moved only with deployment bookkeeping


class ModelStatus(str, Enum):
    """Lifecycle of a model version."""

    CANDIDATE = "candidate"
    REJECTED = "rejected"
    APPROVED = "approved"
    ARCHIVED = "archived"


class RunStatus(str, Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """One immutable version of a dataset: what was read, from where, and its snapshot.

    `id` is derived from the dataset name and the content hash, so re-ingesting identical
    data yields the same version.
    """

    id: str
    name: str
    source_uri: str
    content_hash: str  # sha256 of the source content
    snapshot_sha256: str  # artifact address of the Parquet snapshot
    row_count: int
    column_count: int
    schema: Mapping[str, Any]  # {"columns": {name: {"type": ..., "nullable": ...}}}
    created_at: datetime
    created_by: str
    checks: Mapping[str, Any] = field(default_factory=dict)  # validation summary
    profile_sha256: str | None = None  # artifact address of the reference profile (JSON)


@dataclass(frozen=True, slots=True)
class Run:
    """One training run and everything needed to reproduce it."""

    id: str
    project: str
    dataset_version_id: str
    status: RunStatus
    seed: int
    spec_sha256: str  # artifact address of the spec snapshot (YAML text)
    environment: Mapping[str, Any]  # python, platform, packages, git commit/dirty, assay version
    params: Mapping[str, Any]  # resolved model config incl. preprocessing
    metrics: Mapping[str, Any]
    artifacts: Mapping[str, str]  # role -> sha256 (model, split manifest, test predictions, ...)
    started_at: datetime
    finished_at: datetime | None
    created_by: str
    error: str = ""


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """A registered model version. `ref` is `name:version`."""

    name: str
    version: int
    run_id: str
    flavor: str
    artifact_sha256: str
    signature: Mapping[str, Any]
    metrics: Mapping[str, Any]
    status: ModelStatus
    created_at: datetime
    created_by: str
    description: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True, slots=True)
class AliasChange:
    """A move of a named alias (e.g. `production`) to a model version, or its removal (version None)."""

    model_name: str
    alias: str
    version: int | None
    previous_version: int | None
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Deployment:
    """What serves a model now: the `production` alias, and optionally a canary taking a sticky share
    of traffic and a shadow scoring a copy of it. `revision` grows with every change, so a replica
    can tell at a glance whether it has to switch."""

    model_name: str
    production: int | None
    canary: int | None = None
    canary_percent: float = 0.0
    shadow: int | None = None
    fallback: int | None = None  # answers when production cannot: the model production replaced
    revision: int = 0
    updated_at: datetime | None = None
    updated_by: str = ""


@dataclass(frozen=True, slots=True)
class Approval:
    """A reviewer's decision on a model version: `decision` is "approve" or "reject"."""

    id: int
    model_name: str
    version: int
    decision: str
    actor: str
    comment: str
    at: datetime

    @property
    def ref(self) -> str:
        return f"{self.model_name}:{self.version}"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One append-only audit-log entry. `seq` is assigned by the store, strictly increasing."""

    seq: int
    at: datetime
    actor: str
    action: str  # e.g. "dataset.ingested", "run.finished", "model.registered", "alias.moved"
    subject: str  # e.g. "ds-1a2b3c", "credit-default:3"
    details: Mapping[str, Any]
    # The hash chain (see `assay.registry.audit_chain`): the previous entry's hash, and this one's.
    prev_hash: str = ""
    hash: str = ""


__all__ = [
    "PRODUCTION_ALIAS",
    "AliasChange",
    "Approval",
    "AuditEntry",
    "DatasetVersion",
    "Deployment",
    "ModelStatus",
    "ModelVersion",
    "Run",
    "RunStatus",
]
