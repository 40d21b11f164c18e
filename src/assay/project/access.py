"""API keys for the inference service: created (shown once), listed, revoked. Only hashes are stored."""

from __future__ import annotations

import re

from assay.security.identity import Action
from assay.errors import AssayError
from assay.project.workspace import Project
from assay.security.keys import ApiKey, Role, generate_key, key_id

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$")


class KeyNameError(AssayError, ValueError):
    code = "key-name"


def create_key(project: Project, *, role: Role | str, name: str) -> tuple[str, ApiKey]:
    """A new key with `role`: `(key, record)`. The key is returned once and never stored."""
    project.require(Action.MANAGE_KEYS, subject="keys")
    if not _NAME.match(name):
        raise KeyNameError(f"{name!r} is not a key name",
                           hint="use 1-64 letters, digits, spaces or . _ @ -, e.g. --name checkout-service")
    key, hashed = generate_key()
    record = ApiKey(id=key_id(key), name=name, role=Role(role), hash=hashed, created_at=project.clock.now())
    return key, project.metadata.add_api_key(record, actor=project.actor)


def list_keys(project: Project) -> list[ApiKey]:
    project.require(Action.MANAGE_KEYS, subject="keys")
    return project.metadata.list_api_keys()


def revoke_key(project: Project, kid: str) -> ApiKey:
    project.require(Action.MANAGE_KEYS, subject=f"key:{kid}")
    return project.metadata.revoke_api_key(kid, actor=project.actor, at=project.clock.now())


__all__ = ["KeyNameError", "create_key", "list_keys", "revoke_key"]
