"""Who is acting, and what they may do: one role model for the CLI, the Python API and the HTTP API.

An `Identity` is a name (what the audit log records) and a set of roles. Roles are not a ladder:
each grants a fixed set of actions (`PERMISSIONS`), least privilege first. A prediction client
cannot read the registry; a trainer cannot approve or deploy; an approver cannot deploy what they
approved; only an admin manages keys and erases data. Admin holds every action, including ones
added later.

Where an identity comes from is decided at the edge (`assay.project.access`): the OS user or
`ASSAY_ACTOR` on the CLI, an API key's record, or a header set by an authenticating proxy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from assay.errors import AssayError


class Role(StrEnum):
    VIEWER = "viewer"
    TRAINER = "trainer"
    APPROVER = "approver"
    DEPLOYER = "deployer"
    ADMIN = "admin"
    PREDICT = "predict"  # services calling /v1/predict

    @classmethod
    def _missing_(cls, value: object) -> Role | None:
        # API keys created before the role model stored "read" and "deploy".
        return {"read": cls.VIEWER, "deploy": cls.DEPLOYER}.get(str(value).strip().lower()) if isinstance(value, str) else None


class Action(StrEnum):
    """Every permission-checked operation, named `resource:verb`."""

    READ_DATASETS = "datasets:read"  # datasets list/show, lineage, data reports
    WRITE_DATASETS = "datasets:write"  # ingest, validate (records quarantines), labels ingest
    READ_MODELS = "models:read"  # models list/show/card/review, runs, readiness
    TRAIN = "models:train"  # train, run, evaluate, reproduce (records its verdict)
    APPROVE = "models:approve"  # approve or reject a model version for protected aliases
    MANAGE_MODELS = "models:manage"  # set a status by hand, move or remove an unprotected alias
    OVERRIDE_GATES = "models:override"  # lift a rejection by the evaluation gates (admin only)
    READ_DEPLOYMENTS = "deployments:read"  # deployment state, /v1/models
    DEPLOY = "deployments:change"  # shadow, canary, promote, roll back, move a protected alias
    READ_LOGS = "logs:read"  # audit log, prediction logs, drift and quality reports, /metrics
    MONITOR = "monitoring:run"  # monitor check (alert state, retraining requests)
    ERASE = "data:erase"  # gc --apply, erase --entity
    MANAGE_KEYS = "keys:manage"  # create, list, revoke API keys
    SCORE = "models:score"  # batch scoring (`assay score`)
    PREDICT = "predict"  # POST /v1/predict

    # Names the serving layer used before the role model; same permissions.
    LIST_MODELS = "models:read"
    READ_LINEAGE = "models:read"
    READ_METRICS = "logs:read"


_READ = frozenset({Action.READ_DATASETS, Action.READ_MODELS, Action.READ_DEPLOYMENTS, Action.READ_LOGS})

PERMISSIONS: Mapping[Role, frozenset[Action]] = MappingProxyType(
    {
        Role.VIEWER: _READ,
        Role.TRAINER: _READ | {Action.WRITE_DATASETS, Action.TRAIN, Action.MANAGE_MODELS, Action.MONITOR, Action.SCORE},
        Role.APPROVER: _READ | {Action.APPROVE},
        Role.DEPLOYER: _READ | {Action.DEPLOY, Action.MANAGE_MODELS, Action.MONITOR, Action.SCORE},
        Role.ADMIN: frozenset(Action),
        Role.PREDICT: frozenset({Action.PREDICT, Action.SCORE}),
    }
)


def can(role: Role | str, action: Action | str) -> bool:
    """Whether `role` grants `action` (see `PERMISSIONS`)."""
    return Action(action) in PERMISSIONS[Role(role)]


def roles_that_may(action: Action | str) -> list[Role]:
    return [role for role in Role if can(role, action)]


class PermissionDeniedError(AssayError):
    """The identity is known but none of its roles grants the action."""

    code = "permission-denied"

    def __init__(self, identity: Identity, action: Action | str, *, subject: str = "") -> None:
        action = Action(action)
        held = ", ".join(sorted(r.value for r in identity.roles)) or "none"
        allowed = ", ".join(r.value for r in roles_that_may(action))
        target = f" on {subject}" if subject else ""
        super().__init__(
            f"{identity.name} (roles: {held}) may not {action.value}{target}",
            hint=f"this needs one of the roles: {allowed}; an admin grants roles under `access.users` in "
            "assay.yaml (people) or with `assay keys create --role ROLE` (services and CI)",
        )
        self.identity = identity
        self.action = action


@dataclass(frozen=True, slots=True)
class Identity:
    """Someone acting: `name` is recorded as the actor; `source` says how they were identified
    (os-user, env, api-key, proxy-header, service)."""

    name: str
    roles: frozenset[Role]
    source: str = "os-user"

    @classmethod
    def of(cls, name: str, roles: Iterable[Role | str], source: str = "os-user") -> Identity:
        return cls(name, frozenset(Role(r) for r in roles), source)

    def can(self, action: Action | str) -> bool:
        return any(can(role, action) for role in self.roles)

    def require(self, action: Action | str, *, subject: str = "") -> Identity:
        """Self if some role grants `action`; `PermissionDeniedError` otherwise."""
        if not self.can(action):
            raise PermissionDeniedError(self, action, subject=subject)
        return self


class AccessPolicy(Protocol):
    """Who holds which roles (the spec's `access` section has this shape)."""

    @property
    def users(self) -> Mapping[str, Sequence[str]]: ...
    @property
    def default_roles(self) -> Sequence[str]: ...


LOCAL_SOURCES = frozenset({"os-user", "env", "demo"})  # identities local mode makes admin


def identity_for(name: str, access: AccessPolicy, *, source: str = "os-user") -> Identity:
    """The roles `access` gives `name`. With no users declared (local mode), whoever runs the CLI
    is admin; an identity from the network (a proxy header) never is: it gets `default_roles`."""
    if not access.users:
        return Identity.of(name, [Role.ADMIN] if source in LOCAL_SOURCES else access.default_roles, source)
    return Identity.of(name, access.users.get(name, access.default_roles), source)


__all__ = ["AccessPolicy", "Action", "Identity", "PERMISSIONS", "PermissionDeniedError", "Role", "can", "identity_for", "roles_that_may"]
