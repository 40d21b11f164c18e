"""The `access:` and `approvals:` sections of the spec: who holds which roles, how a proxy may
assert a person's identity, and what a model needs before it may take a protected alias.

Roles are named here as strings (the spec sits below `assay.security`); `assay.security.identity`
defines what each grants."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator

from assay.spec.base import SpecModel

RoleName = Literal["viewer", "trainer", "approver", "deployer", "admin", "predict"]
_IDENTITY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@+:-]{0,127}$")
_HEADER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def is_identity_name(text: str) -> bool:
    """Whether `text` may name an identity (under `access.users`, or in a proxy's user header)."""
    return _IDENTITY.fullmatch(text) is not None


class ProxySpec(SpecModel):
    """A header set by an authenticating proxy (oauth2-proxy, an ingress with SSO) that names the
    person behind a request to the HTTP API. Trusted only from the listed proxy addresses."""

    user_header: str | None = Field(
        None, description="Header holding the authenticated user's name, e.g. X-Forwarded-User (null: off).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="Addresses (CIDR) allowed to set user_header; from anywhere else it is ignored.",
    )

    @field_validator("user_header")
    @classmethod
    def _check_header(cls, value: str | None) -> str | None:
        if value is not None and (not _HEADER.match(value) or value.lower() == "authorization"):
            raise ValueError(f"{value!r} is not a usable header name: letters, digits and '-', not Authorization")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for text in value:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(f"{text!r} is not an address or network (e.g. 10.0.0.0/8, 127.0.0.1/32)") from None
        return value


class AccessSpec(SpecModel):
    """Roles of people and processes. With no users listed, the project is in local mode: whoever
    runs the CLI is admin (a single-person project). Once users are listed, an identity that is not
    listed holds `default_roles` only."""

    users: dict[str, list[RoleName]] = Field(
        default_factory=dict,
        description="Identity name (OS user, ASSAY_ACTOR or proxy user) -> roles: viewer, trainer, approver, "
        "deployer, admin (predict is for services).",
    )
    default_roles: list[RoleName] = Field(
        default_factory=list, description="Roles of an identity not listed under users (e.g. [viewer]).",
    )
    proxy: ProxySpec = Field(default_factory=ProxySpec, description="Header identity behind an authenticating proxy.")

    @field_validator("users")
    @classmethod
    def _check_users(cls, value: dict[str, list[RoleName]]) -> dict[str, list[RoleName]]:
        for name in value:
            if not is_identity_name(name):
                raise ValueError(f"{name!r} is not an identity name: 1-128 letters, digits, spaces or . _ @ + : -")
        return value


class ApprovalsSpec(SpecModel):
    """What a model version needs before a protected alias (production by default) may point at it."""

    protected_aliases: list[str] = Field(
        default_factory=lambda: ["production"],
        description="Aliases that need approvals; `production` also covers `assay deploy --promote`.",
    )
    required: int = Field(
        1, ge=0, le=10, strict=True, description="Approvals needed from distinct identities (0 turns approvals off).",
    )
    role: RoleName = Field("approver", description="The role an approver must hold (admins count too).")
    four_eyes: bool = Field(True, description="The identity that trained a model may not approve it.")
    canary: bool = Field(
        False, description="Also require the approvals before a canary of production takes live traffic.",
    )

    @field_validator("protected_aliases")
    @classmethod
    def _check_aliases(cls, value: list[str]) -> list[str]:
        for alias in value:
            if not _ALIAS.match(alias):
                raise ValueError(f"{alias!r} is not an alias name")
        return value


__all__ = ["AccessSpec", "ApprovalsSpec", "ProxySpec", "RoleName", "is_identity_name"]
