"""Who sent a request: API keys through the key cache, a proxy's user header only from a trusted peer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from structlog.testing import capture_logs

from assay.security.identity import Action, PermissionDeniedError, Role
from assay.security.keys import (
    ApiKey,
    ForbiddenError,
    MissingCredentialsError,
    generate_key,
    key_id,
)
from assay.serving.auth import KeyCache
from assay.serving.identity import (
    InvalidProxyUserError,
    RequestIdentities,
    request_headers,
)
from assay.spec.access import AccessSpec

KEY, HASH = generate_key()
RECORD = ApiKey(id=key_id(KEY), name="ci", role=Role.DEPLOYER, hash=HASH, created_at=datetime(2026, 1, 1, tzinfo=UTC))


def _identities(**proxy: Any) -> RequestIdentities:
    access = AccessSpec.model_validate({"users": {"alice": ["approver"]}, "default_roles": ["viewer"], "proxy": proxy})
    keys = KeyCache(lambda kid: RECORD if kid == RECORD.id else None, ttl_s=60)
    return RequestIdentities(keys, access)


def _authorize(identities: RequestIdentities, headers: dict[str, str], peer: str | None, action: Action) -> Any:
    return asyncio.run(identities.authorize(headers, peer, action))


def test_a_key_acts_as_key_name_with_its_role() -> None:
    identities, headers = _identities(), {"authorization": f"Bearer {KEY}"}
    identity = _authorize(identities, headers, "10.1.2.3", Action.DEPLOY)
    assert (identity.name, identity.roles, identity.source) == ("key:ci", frozenset({Role.DEPLOYER}), "api-key")
    with pytest.raises(ForbiddenError):  # the prediction routes name the key
        _authorize(identities, headers, "10.1.2.3", Action.APPROVE)
    caller = asyncio.run(identities.identify(headers, "10.1.2.3"))  # the governance routes: identity, then role
    assert caller == identity
    with pytest.raises(PermissionDeniedError, match="key:ci"):
        caller.require(Action.APPROVE)
    with pytest.raises(MissingCredentialsError):
        asyncio.run(identities.identify({}, "10.1.2.3"))


def test_the_user_header_counts_from_a_trusted_peer_only() -> None:
    identities = _identities(user_header="X-Forwarded-User", trusted_proxies=["10.0.0.0/8"])
    headers = {"x-forwarded-user": "alice"}
    alice = _authorize(identities, headers, "10.9.9.9", Action.APPROVE)
    assert (alice.name, alice.roles, alice.source) == ("alice", frozenset({Role.APPROVER}), "proxy-header")
    assert _authorize(identities, headers, "::ffff:10.9.9.9", Action.APPROVE).name == "alice"  # IPv4-mapped
    with capture_logs() as logs:
        for peer in ("192.168.1.5", "192.168.1.6", None, "not-an-address"):
            with pytest.raises(MissingCredentialsError):
                _authorize(identities, headers, peer, Action.READ_MODELS)
    assert [entry["event"] for entry in logs] == ["auth.proxy_header_ignored"]  # once, however many
    assert logs[0]["log_level"] == "warning" and "alice" not in repr(logs)


def test_a_key_wins_over_the_header_and_a_bad_header_is_no_identity() -> None:
    identities = _identities(user_header="X-Forwarded-User")
    both = {"authorization": f"Bearer {KEY}", "x-forwarded-user": "alice"}
    assert _authorize(identities, both, "127.0.0.1", Action.DEPLOY).name == "key:ci"
    with pytest.raises(PermissionDeniedError, match="mallory"):  # not listed: default_roles (viewer)
        _authorize(identities, {"x-forwarded-user": "mallory"}, "127.0.0.1", Action.APPROVE)
    for value in ("key:ci", "alice, mallory", "a" * 129, "alice\tbob"):
        with pytest.raises(InvalidProxyUserError):
            _authorize(identities, {"x-forwarded-user": value}, "127.0.0.1", Action.READ_MODELS)
    for headers in ({}, {"x-forwarded-user": "  "}):
        with pytest.raises(MissingCredentialsError):
            _authorize(identities, headers, "127.0.0.1", Action.READ_MODELS)


def test_without_a_user_header_only_keys_count() -> None:
    with pytest.raises(MissingCredentialsError):
        _authorize(_identities(), {"x-forwarded-user": "alice"}, "127.0.0.1", Action.READ_MODELS)


def test_a_header_sent_twice_keeps_both_values() -> None:
    raw = [(b"x-forwarded-user", b"mallory"), (b"x-forwarded-user", b"alice"), (b"accept", b"*/*")]
    assert request_headers(raw) == {"x-forwarded-user": "mallory, alice", "accept": "*/*"}
