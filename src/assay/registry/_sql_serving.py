"""What the online server keeps in the metadata store: API key records and the deployment state.

Functions here run inside a transaction the caller (`SqlMetadataStore`) opened, so a change and
its audit entry commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assay.errors import NotFoundError, RegistryError
from assay.registry._orm import AliasRow, ApiKeyRow, DeploymentRow, RegisteredModelRow
from assay.registry.records import PRODUCTION_ALIAS, AuditEntry, Deployment
from assay.security.keys import ApiKey, Role


Audit = Callable[..., AuditEntry]


def key_record(row: ApiKeyRow) -> ApiKey:
    return ApiKey(id=row.id, name=row.name, role=Role(row.role), hash=row.hash,
                  created_at=row.created_at, revoked_at=row.revoked_at)


def add_key(session: Session, key: ApiKey, *, actor: str, audit: Audit) -> ApiKey:
    if session.get(ApiKeyRow, key.id) is not None:
        raise RegistryError(f"an API key with id {key.id!r} exists", hint="generate a new key")
    session.add(ApiKeyRow(id=key.id, name=key.name, role=key.role.value, hash=key.hash,
                          created_at=key.created_at, created_by=actor, revoked_at=None))
    session.flush()
    # Never the hash: the audit log is exported to places that should not hold it.
    audit(session, actor=actor, action="key.created", subject=f"key:{key.id}",
          details={"name": key.name, "role": key.role.value}, at=key.created_at)
    return key


def revoke_key(session: Session, key_id: str, *, actor: str, at: datetime, audit: Audit) -> ApiKey:
    row = session.get(ApiKeyRow, key_id, with_for_update=True)
    if row is None:
        raise NotFoundError("API key", key_id, hint="list keys with `assay keys list`")
    if row.revoked_at is None:
        row.revoked_at = at
        session.flush()
        audit(session, actor=actor, action="key.revoked", subject=f"key:{key_id}",
              details={"name": row.name, "role": row.role}, at=at)
    return key_record(row)


def read_deployment(session: Session, name: str) -> Deployment:
    production = session.scalars(
        select(AliasRow.version).where(AliasRow.model_name == name, AliasRow.alias == PRODUCTION_ALIAS)
    ).one_or_none()
    row = session.get(DeploymentRow, name)
    if row is None:
        return Deployment(model_name=name, production=production)
    return Deployment(model_name=name, production=production, canary=row.canary_version,
                      canary_percent=row.canary_percent, shadow=row.shadow_version, fallback=row.fallback_version,
                      revision=row.revision,
                      updated_at=row.updated_at, updated_by=row.updated_by)


def change_deployment(
    session: Session,
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
    details: Mapping[str, Any],
    audit: Audit,
    move_production: Callable[[], object] | None = None,
) -> Deployment:
    """Set the canary and shadow (and, through `move_production`, the production alias) in one
    transaction, bump the revision and write one `deployment.<action>` audit entry."""
    if session.get(RegisteredModelRow, name, with_for_update=True) is None:
        raise NotFoundError("model", name)
    if move_production is not None:
        move_production()
    row = session.get(DeploymentRow, name)
    if row is None:
        row = DeploymentRow(model_name=name, revision=0)
        session.add(row)
    row.canary_version, row.canary_percent, row.shadow_version = canary, canary_percent, shadow
    row.fallback_version = fallback
    row.revision += 1
    row.updated_at, row.updated_by = at, actor
    session.flush()
    deployment = read_deployment(session, name)
    audit(session, actor=actor, action=f"deployment.{action}", subject=name,
          details={**details, "reason": reason, "production": deployment.production, "canary": canary,
                   "canary_percent": canary_percent, "shadow": shadow, "fallback": fallback,
                   "revision": deployment.revision},
          at=at)
    return deployment
