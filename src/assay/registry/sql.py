"""`SqlMetadataStore`: the MetadataStore on SQLAlchemy (SQLite by default, PostgreSQL at scale).

Every mutation and its audit entry are written in one transaction. Errors from SQLAlchemy
and the database driver are translated here into assay errors; nothing above this module
sees them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

from alembic.util import CommandError
from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from assay.errors import NotFoundError, StoreError, VersionConflictError
from assay.registry import _sql_audit as _audit_log
from assay.registry import _sql_serving as _serving
from assay.registry._orm import (
    AliasChangeRow,
    AliasRow,
    ApiKeyRow,
    ApprovalRow,
    AuditRow,
    DatasetRow,
    ModelRow,
    RegisteredModelRow,
    RunRow,
)
from assay.registry._sql_engine import SQLITE_BEGIN_OPTION, build_engine, parse_url, redact
from assay.registry._sql_errors import store_error
from assay.registry._sql_migrate import current_revision, head_revision, upgrade_to_head
from assay.registry._sql_values import json_object, positive_limit, utc
from assay.registry._sql_versioning import insert_if_absent, next_version
from assay.registry.records import (
    PRODUCTION_ALIAS,
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

_SUPPORTED_DIALECTS = ("sqlite", "postgresql")


APPROVAL_ACTIONS = {"approve": "model.approved", "reject": "model.rejected"}


class SqlMetadataStore:
    """Datasets, runs, models, aliases and the audit log in a SQL database.

    The constructor neither connects nor migrates: call `migrate()` explicitly (once per
    deployment) and `close()` when done. Lists are newest first, the audit log oldest first.
    """

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine. Prefer `from_url`: it adds the SQLite locking setup (WAL, BEGIN IMMEDIATE)."""
        if engine.dialect.name not in _SUPPORTED_DIALECTS:
            raise StoreError(
                f"unsupported metadata database {engine.dialect.name!r}",
                hint="use SQLite or PostgreSQL",
            )
        self._engine = engine
        # Reads start a DEFERRED transaction on SQLite so they never wait for a writer.
        self._read_engine = engine.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
        self._where = redact(engine.url)
        self._head: str | None = None

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False) -> SqlMetadataStore:
        """Build a store from a database URL (`sqlite:///path.db`, `postgresql://...`). Does not connect."""
        return cls(build_engine(parse_url(url), echo=echo))

    @property
    def url(self) -> str:
        """The database URL with any password redacted."""
        return self._where

    def __repr__(self) -> str:
        return f"SqlMetadataStore({self._where!r})"

    # --- lifecycle ------------------------------------------------------------

    def migrate(self) -> None:
        """Upgrade the schema to the newest revision; safe to run again and from several processes."""
        try:
            with self._translate(), self._engine.begin() as conn:
                upgrade_to_head(conn)
        except CommandError as exc:
            raise StoreError(
                f"cannot migrate the metadata database at {self._where}: {exc}",
                hint="the database may have been migrated by a newer assay; upgrade assay",
            ) from exc

    def is_migrated(self) -> bool:
        """Whether the schema is at the newest revision this assay ships (one small query)."""
        if self._head is None:
            self._head = head_revision()
        with self._translate(), self._read_engine.connect() as conn:
            return current_revision(conn) == self._head

    def close(self) -> None:
        self._engine.dispose()

    # --- datasets -------------------------------------------------------------

    def add_dataset(self, dataset: DatasetVersion) -> tuple[DatasetVersion, bool]:
        created_at = utc(dataset.created_at, "created_at")
        values = {
            "id": dataset.id,
            "name": dataset.name,
            "source_uri": dataset.source_uri,
            "content_hash": dataset.content_hash,
            "snapshot_sha256": dataset.snapshot_sha256,
            "profile_sha256": dataset.profile_sha256,
            "row_count": dataset.row_count,
            "column_count": dataset.column_count,
            "schema": json_object(dataset.schema, "schema"),
            "checks": json_object(dataset.checks, "checks"),
            "created_at": created_at,
            "created_by": dataset.created_by,
        }
        with self._write() as session:
            inserted = insert_if_absent(session, cast(Table, DatasetRow.__table__), values, key="id")
            if inserted:
                _audit(
                    session,
                    actor=dataset.created_by,
                    action="dataset.ingested",
                    subject=dataset.id,
                    details={
                        "name": dataset.name,
                        "content_hash": dataset.content_hash,
                        "row_count": dataset.row_count,
                        "column_count": dataset.column_count,
                    },
                    at=created_at,
                )
            row = session.get_one(DatasetRow, dataset.id)
            return row.to_record(), inserted

    def get_dataset(self, dataset_id: str) -> DatasetVersion:
        with self._read() as session:
            row = session.get(DatasetRow, dataset_id)
            if row is None:
                raise NotFoundError("dataset", dataset_id)
            return row.to_record()

    def list_datasets(self, *, name: str | None = None, limit: int = 100) -> list[DatasetVersion]:
        """Newest first (by `created_at`)."""
        query = select(DatasetRow).order_by(DatasetRow.created_at.desc(), DatasetRow.id.desc())
        if name is not None:
            query = query.where(DatasetRow.name == name)
        with self._read() as session:
            return [row.to_record() for row in session.scalars(query.limit(positive_limit(limit)))]

    # --- runs -----------------------------------------------------------------

    def add_run(self, run: Run) -> None:
        """Record a run. NotFoundError if its dataset version is unknown; VersionConflictError if its id exists."""
        row = RunRow(
            id=run.id,
            project=run.project,
            dataset_version_id=run.dataset_version_id,
            status=RunStatus(run.status).value,
            seed=run.seed,
            spec_sha256=run.spec_sha256,
            environment=json_object(run.environment, "environment"),
            params=json_object(run.params, "params"),
            metrics=json_object(run.metrics, "metrics"),
            artifacts=json_object(run.artifacts, "artifacts"),
            started_at=utc(run.started_at, "started_at"),
            finished_at=None if run.finished_at is None else utc(run.finished_at, "finished_at"),
            created_by=run.created_by,
            error=run.error,
        )
        conflict = VersionConflictError(
            f"run {run.id!r} already exists", hint="give every run a new id; runs are immutable records"
        )
        with self._write() as session:
            if session.get(DatasetRow, run.dataset_version_id) is None:
                raise NotFoundError("dataset", run.dataset_version_id)
            if session.get(RunRow, run.id) is not None:
                raise conflict
            session.add(row)
            try:
                session.flush()
            except IntegrityError as exc:  # the same id inserted concurrently
                raise conflict from exc
            _audit(
                session,
                actor=run.created_by,
                action="run.started",
                subject=run.id,
                details={"project": run.project, "dataset_version_id": run.dataset_version_id, "seed": run.seed},
                at=row.started_at,
            )

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
    ) -> Run:
        """Close a running run. VersionConflictError if it already finished."""
        if RunStatus(status) is RunStatus.RUNNING:
            raise ValueError("finish_run needs a final status (succeeded or failed), not 'running'")
        finished_at = utc(finished_at, "finished_at")
        with self._write() as session:
            row = session.get(RunRow, run_id, with_for_update=True)
            if row is None:
                raise NotFoundError("run", run_id)
            if row.status != RunStatus.RUNNING.value:
                raise VersionConflictError(
                    f"run {run_id!r} already finished with status {row.status!r}",
                    hint="start a new run instead of finishing one twice",
                )
            row.status = RunStatus(status).value
            row.finished_at = finished_at
            row.metrics = json_object(metrics, "metrics")
            row.artifacts = json_object(artifacts, "artifacts")
            if params is not None:
                row.params = json_object(params, "params")
            row.error = error
            session.flush()
            details: dict[str, Any] = {"status": row.status}
            if error:
                details["error"] = error
            _audit(
                session, actor=row.created_by, action="run.finished", subject=run_id, details=details, at=finished_at
            )
            return row.to_record()

    def get_run(self, run_id: str) -> Run:
        with self._read() as session:
            row = session.get(RunRow, run_id)
            if row is None:
                raise NotFoundError("run", run_id)
            return row.to_record()

    def list_runs(self, *, project: str | None = None, limit: int = 100) -> list[Run]:
        """Newest first (by `started_at`)."""
        query = select(RunRow).order_by(RunRow.started_at.desc(), RunRow.id.desc())
        if project is not None:
            query = query.where(RunRow.project == project)
        with self._read() as session:
            return [row.to_record() for row in session.scalars(query.limit(positive_limit(limit)))]

    # --- models ---------------------------------------------------------------

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
        """Register the next version of `name` (1, 2, ...). NotFoundError if the run is unknown.

        The number comes from a per-name counter row locked until commit (see
        `_sql_versioning`), so concurrent writers never skip or repeat a version.
        """
        created_at = utc(created_at, "created_at")
        with self._write() as session:
            if session.get(RunRow, run_id) is None:
                raise NotFoundError("run", run_id)
            row = ModelRow(
                name=name,
                version=next_version(session, name, created_at),
                run_id=run_id,
                flavor=flavor,
                artifact_sha256=artifact_sha256,
                signature=json_object(signature, "signature"),
                metrics=json_object(metrics, "metrics"),
                status=ModelStatus(status).value,
                created_at=created_at,
                created_by=created_by,
                description=description,
            )
            session.add(row)
            session.flush()
            record = row.to_record()
            _audit(
                session,
                actor=created_by,
                action="model.registered",
                subject=record.ref,
                details={"run_id": run_id, "flavor": flavor, "artifact_sha256": artifact_sha256, "status": row.status},
                at=created_at,
            )
            return record

    def get_model(self, name: str, version: int) -> ModelVersion:
        with self._read() as session:
            return _model_row(session, name, version).to_record()

    def list_models(self, *, name: str | None = None, limit: int = 100) -> list[ModelVersion]:
        """Newest registration first."""
        query = select(ModelRow).order_by(ModelRow.id.desc())
        if name is not None:
            query = query.where(ModelRow.name == name)
        with self._read() as session:
            return [row.to_record() for row in session.scalars(query.limit(positive_limit(limit)))]

    def set_model_status(
        self, name: str, version: int, status: ModelStatus, *, actor: str, reason: str, at: datetime
    ) -> ModelVersion:
        at = utc(at, "at")
        with self._write() as session:
            row = _model_row(session, name, version, for_update=True)
            previous, row.status = row.status, ModelStatus(status).value
            session.flush()
            record = row.to_record()
            _audit(
                session,
                actor=actor,
                action="model.status",
                subject=record.ref,
                details={"from": previous, "to": row.status, "reason": reason},
                at=at,
            )
            return record

    # --- approvals --------------------------------------------------------------

    def add_approval(
        self, name: str, version: int, decision: str, *, actor: str, comment: str, at: datetime,
        status: ModelStatus | None = None,
    ) -> Approval:
        """Record a reviewer's "approve" or "reject" of `name:version` with its audit entry, and, when
        `status` is given, set the model's status in the same transaction (audited as well)."""
        if decision not in ("approve", "reject"):
            raise ValueError(f"decision must be 'approve' or 'reject', not {decision!r}")
        at = utc(at, "at")
        with self._write() as session:
            model = _model_row(session, name, version, for_update=True)
            row = ApprovalRow(model_name=name, version=version, decision=decision, actor=actor, comment=comment, at=at)
            session.add(row)
            session.flush()
            record = row.to_record()
            _audit(session, actor=actor, action=APPROVAL_ACTIONS[decision], subject=record.ref,
                   details={"approval_id": record.id, "comment": comment}, at=at)
            if status is not None and model.status != ModelStatus(status).value:
                previous, model.status = model.status, ModelStatus(status).value
                session.flush()
                _audit(session, actor=actor, action="model.status", subject=record.ref,
                       details={"from": previous, "to": model.status, "reason": f"approval {record.id}"}, at=at)
            return record

    def list_approvals(self, name: str, version: int | None = None) -> list[Approval]:
        """Oldest first."""
        query = select(ApprovalRow).where(ApprovalRow.model_name == name).order_by(ApprovalRow.id)
        if version is not None:
            query = query.where(ApprovalRow.version == version)
        with self._read() as session:
            return [row.to_record() for row in session.scalars(query)]

    # --- aliases --------------------------------------------------------------

    def set_alias(
        self, name: str, alias: str, version: int | None, *, actor: str, reason: str, at: datetime
    ) -> AliasChange:
        """Point `alias` at `version` (None removes it). The audit subject is `name@alias`.

        NotFoundError("model") if the version does not exist; NotFoundError("alias") when
        removing an alias that is not set.
        """
        at = utc(at, "at")
        with self._write() as session:
            return _move_alias(session, name, alias, version, actor=actor, reason=reason, at=at)

    def get_alias(self, name: str, alias: str) -> int | None:
        query = select(AliasRow.version).where(AliasRow.model_name == name, AliasRow.alias == alias)
        with self._read() as session:
            return session.scalars(query).one_or_none()

    def list_aliases(self, name: str) -> dict[str, int]:
        query = select(AliasRow.alias, AliasRow.version).where(AliasRow.model_name == name).order_by(AliasRow.alias)
        with self._read() as session:
            return {row.alias: row.version for row in session.execute(query)}

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        """Newest change first."""
        query = select(AliasChangeRow).where(AliasChangeRow.model_name == name).order_by(AliasChangeRow.id.desc())
        if alias is not None:
            query = query.where(AliasChangeRow.alias == alias)
        with self._read() as session:
            return [row.to_record() for row in session.scalars(query)]

    # --- API keys (hashes only) ----------------------------------------------

    def add_api_key(self, key: ApiKey, *, actor: str) -> ApiKey:
        utc(key.created_at, "created_at")
        with self._write() as session:
            return _serving.add_key(session, key, actor=actor, audit=_audit)

    def get_api_key(self, key_id: str) -> ApiKey | None:
        with self._read() as session:
            row = session.get(ApiKeyRow, key_id)
            return None if row is None else _serving.key_record(row)

    def list_api_keys(self) -> list[ApiKey]:
        """Newest first, revoked ones included."""
        with self._read() as session:
            query = select(ApiKeyRow).order_by(ApiKeyRow.created_at.desc(), ApiKeyRow.id)
            return [_serving.key_record(row) for row in session.scalars(query)]

    def revoke_api_key(self, key_id: str, *, actor: str, at: datetime) -> ApiKey:
        """Revoke a key (idempotent: revoking twice keeps the first time). NotFoundError if unknown."""
        at = utc(at, "at")
        with self._write() as session:
            return _serving.revoke_key(session, key_id, actor=actor, at=at, audit=_audit)

    # --- deployments ------------------------------------------------------------

    def get_deployment(self, name: str) -> Deployment:
        """The production alias, canary and shadow of `name` (all None when nothing was deployed)."""
        with self._read() as session:
            return _serving.read_deployment(session, name)

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
    ) -> Deployment:
        """Set the canary, shadow and fallback, and with `production` move the production alias, in one
        transaction with its audit entries. Every version named must exist (NotFoundError)."""
        at = utc(at, "at")
        with self._write() as session:
            for version in (canary, shadow, fallback, production):
                if version is not None:
                    _model_row(session, name, version)
            move = None
            if production is not None:
                def move() -> object:
                    return _move_alias(session, name, PRODUCTION_ALIAS, production, actor=actor, reason=reason, at=at)
            return _serving.change_deployment(
                session, name, canary=canary, canary_percent=canary_percent, shadow=shadow, fallback=fallback,
                action=action,
                actor=actor, reason=reason, at=at, details=details or {}, audit=_audit, move_production=move,
            )

    # --- audit ----------------------------------------------------------------

    def append_audit(
        self, *, actor: str, action: str, subject: str, details: Mapping[str, Any], at: datetime
    ) -> AuditEntry:
        with self._write() as session:
            return _audit(session, actor=actor, action=action, subject=subject, details=details, at=at)

    def list_audit(self, *, subject: str | None = None, action: str | None = None, newest_first: bool = False,
                   limit: int = 1000, model: str | None = None, since: datetime | None = None) -> list[AuditEntry]:
        """The first `limit` entries in `seq` order (oldest first), or the last `limit` newest first."""
        query = select(AuditRow).order_by(AuditRow.seq.desc() if newest_first else AuditRow.seq)
        if subject is not None:
            query = query.where(AuditRow.subject == subject)
        if model is not None:
            query = query.where(_audit_log.model_filter(model))
        if action is not None:
            query = query.where(AuditRow.action == action)
        if since is not None:
            query = query.where(AuditRow.at >= utc(since, "since"))
        with self._read() as session:
            return [row.to_record() for row in session.scalars(query.limit(positive_limit(limit)))]

    def iter_audit(self) -> Iterator[AuditEntry]:
        """Every entry in seq order, streamed in pages (for verifying the chain of a large log)."""
        pages = _audit_log.stream(self._read_engine)
        while True:
            with self._translate():
                entry = next(pages, None)
            if entry is None:
                return
            yield entry

    # --- transactions and error translation -----------------------------------

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self._translate(), Session(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._translate(), Session(self._read_engine) as session:
            yield session

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            raise store_error(exc, where=self._where) from exc


# --- helpers (all run inside the caller's transaction) -------------------------


def _model_row(session: Session, name: str, version: int, *, for_update: bool = False) -> ModelRow:
    query = select(ModelRow).where(ModelRow.name == name, ModelRow.version == version)
    row = session.scalars(query.with_for_update() if for_update else query).one_or_none()
    if row is None:
        raise NotFoundError("model", f"{name}:{version}")
    return row


def _move_alias(
    session: Session, name: str, alias: str, version: int | None, *, actor: str, reason: str, at: datetime
) -> AliasChange:
    # Locking the model's counter row serialises alias moves per model, so
    # `previous_version` is exact even with concurrent writers.
    if session.get(RegisteredModelRow, name, with_for_update=True) is None:
        if version is None:
            raise _missing_alias(name, alias, [])
        raise NotFoundError("model", f"{name}:{version}")
    current = session.scalars(
        select(AliasRow).where(AliasRow.model_name == name, AliasRow.alias == alias)
    ).one_or_none()
    previous = None if current is None else current.version
    if version is None:
        if current is None:
            raise _missing_alias(name, alias, _alias_names(session, name))
        session.delete(current)
    else:
        _model_row(session, name, version)
        if current is None:
            session.add(AliasRow(model_name=name, alias=alias, version=version, updated_at=at))
        else:
            current.version, current.updated_at = version, at
    change = AliasChangeRow(
        model_name=name, alias=alias, version=version, previous_version=previous, actor=actor, reason=reason, at=at
    )
    session.add(change)
    session.flush()
    _audit(
        session,
        actor=actor,
        action="alias.moved",
        subject=f"{name}@{alias}",
        details={"model": name, "alias": alias, "version": version, "previous_version": previous, "reason": reason},
        at=at,
    )
    return change.to_record()


def _alias_names(session: Session, name: str) -> list[str]:
    return list(session.scalars(select(AliasRow.alias).where(AliasRow.model_name == name).order_by(AliasRow.alias)))


def _missing_alias(name: str, alias: str, existing: list[str]) -> NotFoundError:
    known = ", ".join(existing) if existing else "none"
    return NotFoundError("alias", f"{name}@{alias}", hint=f"aliases of {name!r}: {known}")


def _audit(
    session: Session, *, actor: str, action: str, subject: str, details: Mapping[str, Any], at: datetime
) -> AuditEntry:
    return _audit_log.append(session, actor=actor, action=action, subject=subject, details=details, at=at)


__all__ = ["SqlMetadataStore"]
