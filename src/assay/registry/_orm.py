"""SQLAlchemy 2.0 tables of the metadata store. Only `sql.py` and the migrations use these.

Datetimes are stored as UTC and always come back UTC-aware (SQLite drops tzinfo, so it is
restored on read). JSON columns use the portable `sqlalchemy.JSON` type. Every change to
these classes needs a new migration under `migrations/versions/`; a test checks that the
migrated schema and this metadata do not differ.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from assay.registry.records import (
    AliasChange,
    Approval,
    AuditEntry,
    DatasetVersion,
    ModelStatus,
    ModelVersion,
    Run,
    RunStatus,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Our own Alembic version table, so an application database shared with other
# Alembic-managed apps never has its `alembic_version` clobbered.
VERSION_TABLE = "assay_alembic_version"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and returned UTC-aware on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass a timezone-aware (UTC) datetime")
        value = value.astimezone(UTC)
        # SQLite keeps no offset: store the UTC wall time, restored as UTC on read.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DatasetRow(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    source_uri: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    snapshot_sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(BigInteger)
    column_count: Mapped[int] = mapped_column(Integer)
    schema_: Mapped[dict[str, Any]] = mapped_column("schema", JSON)
    checks: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(255))
    profile_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)

    def to_record(self) -> DatasetVersion:
        return DatasetVersion(
            id=self.id,
            name=self.name,
            source_uri=self.source_uri,
            content_hash=self.content_hash,
            snapshot_sha256=self.snapshot_sha256,
            row_count=self.row_count,
            column_count=self.column_count,
            schema=self.schema_,
            created_at=self.created_at,
            created_by=self.created_by,
            checks=self.checks,
            profile_sha256=self.profile_sha256,
        )


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    project: Mapped[str] = mapped_column(String(255), index=True)
    dataset_version_id: Mapped[str] = mapped_column(String(128), ForeignKey("datasets.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    seed: Mapped[int] = mapped_column(BigInteger)
    spec_sha256: Mapped[str] = mapped_column(String(64))
    environment: Mapped[dict[str, Any]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    artifacts: Mapped[dict[str, str]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(255))
    error: Mapped[str] = mapped_column(Text)

    def to_record(self) -> Run:
        return Run(
            id=self.id,
            project=self.project,
            dataset_version_id=self.dataset_version_id,
            status=RunStatus(self.status),
            seed=self.seed,
            spec_sha256=self.spec_sha256,
            environment=self.environment,
            params=self.params,
            metrics=self.metrics,
            artifacts=self.artifacts,
            started_at=self.started_at,
            finished_at=self.finished_at,
            created_by=self.created_by,
            error=self.error,
        )


class RegisteredModelRow(Base):
    """One row per model name: the counter that hands out version numbers under a row lock."""

    __tablename__ = "registered_models"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ModelRow(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), ForeignKey("registered_models.name"))
    version: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(128), ForeignKey("runs.id"), index=True)
    flavor: Mapped[str] = mapped_column(String(64))
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    signature: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)

    def to_record(self) -> ModelVersion:
        return ModelVersion(
            name=self.name,
            version=self.version,
            run_id=self.run_id,
            flavor=self.flavor,
            artifact_sha256=self.artifact_sha256,
            signature=self.signature,
            metrics=self.metrics,
            status=ModelStatus(self.status),
            created_at=self.created_at,
            created_by=self.created_by,
            description=self.description,
        )


class AliasRow(Base):
    """Where each alias points now. Its history lives in `alias_changes`."""

    __tablename__ = "aliases"
    __table_args__ = (
        UniqueConstraint("model_name", "alias"),
        ForeignKeyConstraint(["model_name", "version"], ["models.name", "models.version"]),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(255))
    alias: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AliasChangeRow(Base):
    __tablename__ = "alias_changes"
    __table_args__ = (Index("ix_alias_changes_model_name_alias", "model_name", "alias"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(255), ForeignKey("registered_models.name"))
    alias: Mapped[str] = mapped_column(String(255))
    version: Mapped[int | None] = mapped_column(Integer)
    previous_version: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    def to_record(self) -> AliasChange:
        return AliasChange(
            model_name=self.model_name,
            alias=self.alias,
            version=self.version,
            previous_version=self.previous_version,
            actor=self.actor,
            reason=self.reason,
            at=self.at,
        )


class ApprovalRow(Base):
    """A reviewer's approve or reject of a model version; rows are only ever added."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_model_name_version", "model_name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(255), ForeignKey("registered_models.name"))
    version: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(255))
    comment: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    def to_record(self) -> Approval:
        return Approval(id=self.id, model_name=self.model_name, version=self.version, decision=self.decision,
                        actor=self.actor, comment=self.comment, at=self.at)


class AuditRow(Base):
    """Append-only and hash-chained: the store inserts rows and never updates or deletes them."""

    __tablename__ = "audit_log"
    # AUTOINCREMENT: SQLite never reuses a seq, so seq stays strictly increasing.
    __table_args__ = ({"sqlite_autoincrement": True},)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The hash chain: each entry commits to its content and to the entry before it (migration 0004).
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    def to_record(self) -> AuditEntry:
        return AuditEntry(
            seq=self.seq,
            at=self.at,
            actor=self.actor,
            action=self.action,
            subject=self.subject,
            details=self.details,
            prev_hash=self.prev_hash,
            hash=self.hash,
        )


class ApiKeyRow(Base):
    """An API key's record: its hash only, never the key."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(255))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeploymentRow(Base):
    """What serves besides the `production` alias: a canary with its share, and a shadow."""

    __tablename__ = "deployments"

    model_name: Mapped[str] = mapped_column(String(255), ForeignKey("registered_models.name"), primary_key=True)
    canary_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    canary_percent: Mapped[float] = mapped_column(Float)
    shadow_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fallback_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    revision: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(255))
