"""Who sent a request: an API key, or a person named by an authenticating proxy.

A request with an `Authorization` header is a key's (`key:NAME`, the key's role), checked through
the key cache as before. Without one, and only when the spec names `access.proxy.user_header`, the
person in that header is the caller, with the roles `access.users` gives them, provided the TCP
peer of the connection is one of `access.proxy.trusted_proxies`. From any other address the header
is ignored: anyone can send a header, only the proxy can be the peer. So the server must see the
proxy's own address, never a forwarded one (`run_server` turns uvicorn's proxy headers off).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import structlog

from assay.security.identity import Action, Identity, identity_for
from assay.security.keys import (
    MissingCredentialsError,
    UnauthenticatedError,
    key_identity,
)
from assay.serving.auth import KeyCache
from assay.spec.access import AccessSpec, is_identity_name

_log = structlog.get_logger("assay.serve")
_KEY_PREFIX = "key:"  # the actor names of API keys: a proxy user may not take one


class InvalidProxyUserError(UnauthenticatedError):
    """The trusted proxy's user header holds something that cannot name an identity (HTTP 401)."""

    code = "auth-invalid-proxy-user"

    def __init__(self, header: str) -> None:
        super().__init__(
            f"the {header} header set by the proxy does not name a usable identity",
            hint="an identity is 1-128 letters, digits, spaces or . _ @ + : -, sent once, not starting with "
            "'key:'; check what the proxy puts in the header",
        )


def request_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI header pairs as a dict. A header sent twice keeps both values, joined by ", " as HTTP
    joins repeated fields, so a second `Authorization` or user header cannot hide behind the first
    (both fail the checks instead)."""
    headers: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("latin-1"), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def peer_of(scope: MutableMapping[str, Any]) -> str | None:
    """The TCP peer's address of an ASGI connection (None over a Unix socket)."""
    client = scope.get("client")
    return str(client[0]) if client else None


class RequestIdentities:
    """Resolves and authorizes the identity behind each request (see the module docstring)."""

    def __init__(self, keys: KeyCache, access: AccessSpec) -> None:
        self._keys = keys
        self._warned = False
        self.update(access)

    def update(self, access: AccessSpec) -> None:
        """Use `access` from the next request on (the server re-reads the spec when it changes)."""
        self._access = access
        self.user_header = access.proxy.user_header
        self._trusted = tuple(ipaddress.ip_network(net, strict=False) for net in access.proxy.trusted_proxies)

    @property
    def access(self) -> AccessSpec:
        return self._access

    async def identify(self, headers: Mapping[str, str], peer: str | None) -> Identity:
        """The caller, whatever they may do; 401 errors (`UnauthenticatedError`) when unknown.
        The governance routes check `identity.require(action)` next, so every refusal there is
        `PermissionDeniedError`, as on the CLI."""
        header = headers.get("authorization")
        if header is not None or self.user_header is None:
            return key_identity(await self._keys.verify(header))
        return self._proxy_user(headers, peer, self.user_header)

    async def authorize(self, headers: Mapping[str, str], peer: str | None, action: Action) -> Identity:
        """The caller, if they may do `action` (the prediction routes). 401 errors when the caller
        is unknown; 403 when they may not: `ForbiddenError` for a key (naming the key, as these
        routes always answered), `PermissionDeniedError` for a proxy user."""
        header = headers.get("authorization")
        if header is not None or self.user_header is None:
            return key_identity(await self._keys.authorize(header, action))
        return self._proxy_user(headers, peer, self.user_header).require(action)

    def _proxy_user(self, headers: Mapping[str, str], peer: str | None, user_header: str) -> Identity:
        value = headers.get(user_header.lower())
        if value is None:
            raise MissingCredentialsError()
        if not self._is_trusted(peer):
            if not self._warned:  # once per process: a flood of such requests must not flood the log
                self._warned = True
                _log.warning("auth.proxy_header_ignored", header=user_header, peer=peer,
                             trusted_proxies=[str(net) for net in self._trusted],
                             note="the header came from an address not in access.proxy.trusted_proxies; "
                                  "it is ignored (logged once)")
            raise MissingCredentialsError()
        name = value.strip()
        if not name:
            raise MissingCredentialsError()
        if not is_identity_name(name) or name.startswith(_KEY_PREFIX):
            raise InvalidProxyUserError(user_header)
        return identity_for(name, self._access, source="proxy-header")

    def _is_trusted(self, peer: str | None) -> bool:
        if peer is None:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._trusted)


__all__ = ["InvalidProxyUserError", "RequestIdentities", "peer_of", "request_headers"]
