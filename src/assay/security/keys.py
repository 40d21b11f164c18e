"""API keys with roles: generation, hashing, bearer parsing, constant-time verification, authorization.

A key looks like `ak_<id>_<secret>`: `id` is 16 hex chars (8 random bytes) that name the stored
record, `secret` is 64 hex chars (32 random bytes from `secrets`). The full key is shown once, at
creation; only its hash is stored. Clients send `Authorization: Bearer <key>`.

Errors map to HTTP at the serving edge: `UnauthenticatedError` and its subclasses to 401,
`ForbiddenError` to 403. No message repeats the header or the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from assay.errors import AssayError
from assay.security.identity import PERMISSIONS, Action, Identity, Role, can

_HASH_SCHEME = "sha256:"
_ID_BYTES = 8
_SECRET_BYTES = 32
_PREFIX = re.compile(r"[a-z][a-z0-9]{0,15}")
_KEY = re.compile(r"([a-z][a-z0-9]{0,15})_([0-9a-f]{%d})_([0-9a-f]{%d})" % (2 * _ID_BYTES, 2 * _SECRET_BYTES))
_NEW_KEY_HINT = "ask an admin for a key (`assay keys create`)"


# Roles and actions are the one model in `assay.security.identity`; keys carry one role each.


# --- errors -----------------------------------------------------------------


class AuthError(AssayError):
    """A request is not authenticated or not allowed."""

    code = "auth-error"


class UnauthenticatedError(AuthError):
    """No valid key: the caller is unknown (HTTP 401)."""

    code = "auth-unauthenticated"


class MissingCredentialsError(UnauthenticatedError):
    code = "auth-missing-key"

    def __init__(self) -> None:
        super().__init__("no API key: the Authorization header is missing or empty",
                         hint="send `Authorization: Bearer <key>`; " + _NEW_KEY_HINT)


class MalformedCredentialsError(UnauthenticatedError, ValueError):
    code = "auth-malformed-header"

    def __init__(self, problem: str) -> None:
        super().__init__(f"malformed Authorization header: {problem}",
                         hint="send exactly `Authorization: Bearer <key>`, one space, no quotes")


class InvalidKeyError(UnauthenticatedError):
    """The key is malformed, unknown, does not match its record, or was revoked.

    `reason` ("malformed", "unknown", "revoked") is for logs and metrics; an unknown id and a wrong
    secret share "unknown", so a caller cannot tell which key ids exist.
    """

    code = "auth-invalid-key"

    def __init__(self, reason: str, *, key_id: str = "") -> None:
        if reason == "revoked":
            message, hint = f"API key {key_id!r} has been revoked", _NEW_KEY_HINT
        else:
            message, hint = "API key is not valid", f"check the key was copied whole; {_NEW_KEY_HINT}"
        super().__init__(message, hint=hint)
        self.reason = reason
        self.key_id = key_id


class ForbiddenError(AuthError):
    """The key is valid but its role does not allow the action (HTTP 403)."""

    code = "auth-forbidden"

    def __init__(self, key: ApiKey, action: Action) -> None:
        allowed = ", ".join(role.value for role in Role if can(role, action))
        super().__init__(f"API key {key.id!r} has role {key.role.value!r}, which may not {action.value!r}",
                         hint=f"use a key with one of the roles: {allowed}")
        self.key_id = key.id
        self.role = key.role
        self.action = action


# --- keys -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key record. `hash` is `key_hash(full key)`; the key itself is never stored."""

    id: str
    name: str
    role: Role
    hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        for stamp in (self.created_at, self.revoked_at):
            if stamp is not None and stamp.tzinfo is None:
                raise ValueError("ApiKey timestamps must be timezone-aware (UTC)")

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


def generate_key(prefix: str = "ak") -> tuple[str, str]:
    """A new key and its hash: `(key, key_hash(key))`. Show the key once; store the hash.

    The record id is `key_id(key)`.
    """
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"key prefix {prefix!r} must be 1-16 lowercase letters or digits, starting with a letter")
    key = f"{prefix}_{secrets.token_hex(_ID_BYTES)}_{secrets.token_hex(_SECRET_BYTES)}"
    return key, key_hash(key)


def key_id(key: str) -> str:
    """The record id inside a key (not secret: it names the record, like a user name)."""
    return _parse_key(key).group(2)


def key_hash(key: str) -> str:
    """`"sha256:" + hex(SHA-256(full key))`.

    A fast hash is right here, unlike for passwords: the secret part holds 256 random bits, so no
    amount of hashing speed makes guessing it feasible, and a slow KDF (scrypt, PBKDF2) would only
    add milliseconds to every request. Hashing the whole key binds the id and prefix too. The
    `sha256:` label leaves room to change the scheme later.
    """
    _parse_key(key)
    return _HASH_SCHEME + hashlib.sha256(key.encode("ascii")).hexdigest()


def verify(key: str, stored_hash: str) -> bool:
    """Whether `key` matches `stored_hash`, compared in constant time. A malformed key is False."""
    if _KEY.fullmatch(key) is None:
        return False
    computed = key_hash(key).encode("ascii")
    return hmac.compare_digest(computed, stored_hash.encode("utf-8", "replace"))


def parse_bearer(header: str | None) -> str:
    """The key in an `Authorization: Bearer <key>` header value. The scheme is case-insensitive."""
    if header is None or not header.strip():
        raise MissingCredentialsError()
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer":
        raise MalformedCredentialsError("the scheme must be Bearer")
    if not credentials:
        raise MalformedCredentialsError("no key after Bearer")
    if credentials != credentials.strip() or any(char.isspace() for char in credentials):
        raise MalformedCredentialsError("the key must be one word after `Bearer `")
    return credentials


def authorize(header: str | None, lookup: Callable[[str], ApiKey | None], action: Action) -> ApiKey:
    """The key record behind `header` if it may perform `action`.

    Raises an `UnauthenticatedError` (401) for a missing or malformed header and for a malformed,
    unknown, mismatched or revoked key; `ForbiddenError` (403) when the role does not allow `action`.
    `lookup(key_id)` returns the stored record or None.
    """
    record = verified_record(parse_bearer(header), lookup)
    if not can(record.role, action):
        raise ForbiddenError(record, Action(action))
    return record


def verified_record(key: str, lookup: Callable[[str], ApiKey | None]) -> ApiKey:
    """The stored record of `key` when the key matches it and is not revoked (`InvalidKeyError` otherwise)."""
    record = lookup(key_id(key))
    if record is None or not verify(key, record.hash):
        raise InvalidKeyError("unknown")
    if record.is_revoked:  # reported only to a caller who proved they hold the key
        raise InvalidKeyError("revoked", key_id=record.id)
    return record


def key_identity(record: ApiKey) -> Identity:
    """The identity a verified key acts as: `key:NAME` with the key's role."""
    return Identity.of(f"key:{record.name}", [record.role], "api-key")


def _parse_key(key: str) -> re.Match[str]:
    match = _KEY.fullmatch(key)
    if match is None:
        raise InvalidKeyError("malformed")
    return match


__all__ = [
    "Action",
    "ApiKey",
    "AuthError",
    "ForbiddenError",
    "InvalidKeyError",
    "MalformedCredentialsError",
    "MissingCredentialsError",
    "PERMISSIONS",
    "Role",
    "UnauthenticatedError",
    "authorize",
    "can",
    "generate_key",
    "key_identity",
    "key_hash",
    "key_id",
    "parse_bearer",
    "verified_record",
    "verify",
]
