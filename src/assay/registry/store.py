"""Ports for the two stores every stage shares: metadata and artifacts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from assay.registry.records import (
    AliasChange,
    Approval,
    AuditEntry,
    DatasetVersion,
    Deployment,
    ModelStatus,
    ModelVersion,
    Run,
    RunStatus,
)
from assay.security.keys import ApiKey


class MetadataStore(Protocol):
    """Datasets, runs, models, aliases and the audit log.

    Every mutating method writes its audit entry in the same transaction as the change,
    so a change and its audit entry are never seen apart.
    """

    def migrate(self) -> None:
        """Create or upgrade the schema to the latest revision. Explicit; never implicit on open."""

    def close(self) -> None: ...

    # datasets
    def add_dataset(self, dataset: DatasetVersion) -> tuple[DatasetVersion, bool]:
        """Insert a dataset version; if one with the same id exists, return it and False."""

    def get_dataset(self, dataset_id: str) -> DatasetVersion: ...  # NotFoundError
    def list_datasets(self, *, name: str | None = None, limit: int = 100) -> list[DatasetVersion]:
        """Newest first."""

    # runs
    def add_run(self, run: Run) -> None: ...
    def finish_run(
        self,
        run_id: str,
        *,
        status: RunStatus,
        finished_at: datetime,
        metrics: Mapping[str, Any],
        artifacts: Mapping[str, str],
        params: Mapping[str, Any] | None = None,
        error: str = "",
    ) -> Run: ...
    def get_run(self, run_id: str) -> Run: ...
    def list_runs(self, *, project: str | None = None, limit: int = 100) -> list[Run]: ...

    # models
    def register_model(
        self,
        *,
        name: str,
        run_id: str,
        flavor: str,
        artifact_sha256: str,
        signature: Mapping[str, Any],
        metrics: Mapping[str, Any],
        status: ModelStatus,
        created_at: datetime,
        created_by: str,
        description: str = "",
    ) -> ModelVersion:
        """Assign the next version number for `name` atomically (safe under concurrent writers)."""

    def get_model(self, name: str, version: int) -> ModelVersion: ...
    def list_models(self, *, name: str | None = None, limit: int = 100) -> list[ModelVersion]: ...
    def set_model_status(
        self, name: str, version: int, status: ModelStatus, *, actor: str, reason: str, at: datetime
    ) -> ModelVersion: ...

    # aliases
    def add_approval(
        self, name: str, version: int, decision: str, *, actor: str, comment: str, at: datetime,
        status: ModelStatus | None = None,
    ) -> Approval: ...
    def list_approvals(self, name: str, version: int | None = None) -> list[Approval]: ...  # oldest first

    def set_alias(
        self, name: str, alias: str, version: int | None, *, actor: str, reason: str, at: datetime
    ) -> AliasChange:
        """Point `alias` at `version` (None removes it). Records an AliasChange and an audit entry."""

    def get_alias(self, name: str, alias: str) -> int | None: ...
    def list_aliases(self, name: str) -> dict[str, int]: ...
    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]: ...

    # API keys (only hashes are stored)
    def add_api_key(self, key: ApiKey, *, actor: str) -> ApiKey: ...
    def get_api_key(self, key_id: str) -> ApiKey | None: ...
    def list_api_keys(self) -> list[ApiKey]: ...
    def revoke_api_key(self, key_id: str, *, actor: str, at: datetime) -> ApiKey: ...

    # deployments (production alias, canary, shadow)
    def get_deployment(self, name: str) -> Deployment: ...
    def change_deployment(
        self,
        name: str,
        *,
        canary: int | None,
        canary_percent: float,
        shadow: int | None,
        fallback: int | None,
        action: str,
        actor: str,
        reason: str,
        at: datetime,
        production: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Deployment: ...

    # audit
    def append_audit(
        self, *, actor: str, action: str, subject: str, details: Mapping[str, Any], at: datetime
    ) -> AuditEntry: ...
    def list_audit(self, *, subject: str | None = None, action: str | None = None, newest_first: bool = False,
                   limit: int = 1000, model: str | None = None, since: datetime | None = None) -> list[AuditEntry]:
        """Oldest first (the first `limit`), or newest first (the last `limit`); optionally one
        subject's, one action's, one model's (its name, versions `NAME:N` and aliases `NAME@A`),
        or those at or after `since`."""
    def iter_audit(self) -> Iterator[AuditEntry]:
        """Every entry in seq order, with its chain hashes, streamed (never all loaded at once)."""


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    sha256: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class ArtifactProblem:
    sha256: str
    problem: str  # "tampered", "unreadable", "misnamed"
    detail: str


class ArtifactStore(Protocol):
    """Content-addressed, immutable blobs. Writes are atomic; every read verifies the hash."""

    @property
    def root(self) -> str: ...

    def put_bytes(self, data: bytes) -> ArtifactInfo: ...
    def put_file(self, path: Path) -> ArtifactInfo: ...
    def get_bytes(self, sha256: str) -> bytes:
        """ArtifactNotFoundError if absent; ArtifactIntegrityError if the bytes do not hash to the address."""

    def fetch_to(self, sha256: str, path: Path) -> Path:
        """Copy a verified artifact to a local path (atomically) and return it."""

    def exists(self, sha256: str) -> bool: ...
    def size_of(self, sha256: str) -> int | None: ...
    def delete(self, sha256: str) -> bool:
        """Remove an artifact (retention and erasure only); False when it was absent."""

    def iter_artifacts(self) -> Iterator[ArtifactInfo]: ...
    def verify(self, sha256s: Sequence[str] | None = None) -> list[ArtifactProblem]:
        """Re-hash every (or the named) artifacts; return the problems found, sorted by sha."""


__all__ = ["ArtifactInfo", "ArtifactProblem", "ArtifactStore", "MetadataStore"]
