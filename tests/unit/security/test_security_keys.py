"""API keys: generation, hashing, bearer parsing, the role matrix and authorize's 401/403 split."""

from __future__ import annotations

import hmac
import math
import re
from collections import Counter
from datetime import UTC, datetime

import pytest

from assay.security import keys
from assay.security.keys import (
    Action,
    ApiKey,
    AuthError,
    ForbiddenError,
    InvalidKeyError,
    MalformedCredentialsError,
    MissingCredentialsError,
    Role,
    UnauthenticatedError,
    authorize,
    can,
    generate_key,
    key_hash,
    key_id,
    parse_bearer,
    verify,
)

AT = datetime(2025, 1, 1, tzinfo=UTC)
def _record(key: str, role: Role, *, revoked_at: datetime | None = None) -> ApiKey:
    return ApiKey(id=key_id(key), name="ci", role=role, hash=key_hash(key), created_at=AT, revoked_at=revoked_at)


def _lookup(*records: ApiKey):
    by_id = {record.id: record for record in records}
    return by_id.get


def test_generated_keys_have_the_documented_shape() -> None:
    key, stored = generate_key()
    assert re.fullmatch(r"ak_[0-9a-f]{16}_[0-9a-f]{64}", key)
    assert stored == key_hash(key) and stored.startswith("sha256:")
    assert key not in stored and key.split("_")[2] not in stored
    assert generate_key("svc")[0].startswith("svc_")


@pytest.mark.parametrize("prefix", ["", "A", "a_b", "1ak", "x" * 17])
def test_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        generate_key(prefix)


def test_generated_keys_are_unique_and_high_entropy() -> None:
    made = [generate_key()[0] for _ in range(500)]
    assert len(set(made)) == len(made)
    assert len({key_id(key) for key in made}) == len(made)
    secret_hex = "".join(key.split("_")[2] for key in made)
    counts = Counter(secret_hex)
    entropy = -sum(n / len(secret_hex) * math.log2(n / len(secret_hex)) for n in counts.values())
    assert entropy > 3.99  # bits per hex digit; 4.0 is uniform
    assert all(len(key.split("_")[2]) * 4 >= 256 for key in made)


def test_verify_accepts_the_key_and_rejects_near_misses() -> None:
    key, stored = generate_key()
    other, _ = generate_key()
    assert verify(key, stored)
    last = stored[-1]
    near_misses = [stored[:-1], stored + "0", stored[:-1] + ("0" if last != "0" else "1"), stored.upper(),
                   "", "sha256:", "é" * 71, key_hash(other)]
    assert not any(verify(key, miss) for miss in near_misses)
    assert not verify(other, stored)
    assert not verify("not-a-key", stored)
    assert not verify(key[:-1], stored)


def test_verify_compares_with_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    key, stored = generate_key()
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys.hmac, "compare_digest", recording)
    assert verify(key, stored) and not verify(key, key_hash(generate_key()[0]))
    assert [a for a, _ in calls] == [stored.encode()] * 2


def test_key_id_and_hash_refuse_malformed_keys() -> None:
    for bad in ["", "ak_short_secret", "ak_" + "g" * 16 + "_" + "0" * 64, generate_key()[0] + "0"]:
        with pytest.raises(InvalidKeyError):
            key_hash(bad)
        with pytest.raises(InvalidKeyError):
            key_id(bad)


@pytest.mark.parametrize("header", ["Bearer abc", "bearer abc", "BEARER abc"])
def test_bearer_scheme_is_case_insensitive(header: str) -> None:
    assert parse_bearer(header) == "abc"


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header_is_missing_credentials(header: str | None) -> None:
    with pytest.raises(MissingCredentialsError) as info:
        parse_bearer(header)
    assert "Bearer" in info.value.hint


@pytest.mark.parametrize(
    ("header", "problem"),
    [("Basic dXNlcjpwYXNz", "scheme must be Bearer"), ("ak_secretvalue", "scheme must be Bearer"),
     ("Bearer", "no key"), ("Bearer ", "no key"), ("Bearer  ak_secretvalue", "one word"),
     ("Bearer ak_secretvalue extra", "one word"), ("Bearer ak_secretvalue\n", "one word"),
     ("Token ak_secretvalue", "scheme must be Bearer")],
)
def test_malformed_headers_are_refused_without_echoing_them(header: str, problem: str) -> None:
    with pytest.raises(MalformedCredentialsError, match=problem) as info:
        parse_bearer(header)
    assert "secretvalue" not in str(info.value) and "dXNlcjpwYXNz" not in str(info.value)
    assert isinstance(info.value, UnauthenticatedError)


def test_keys_created_before_the_role_model_keep_their_permissions() -> None:
    # Stored records say "read" and "deploy"; they read as viewer and deployer.
    assert Role("read") is Role.VIEWER and Role("deploy") is Role.DEPLOYER
    assert can("read", "models:read") and not can("predict", "models:read")  # plain strings from the edge
    assert Action.LIST_MODELS is Action.READ_MODELS and Action.READ_METRICS is Action.READ_LOGS


def test_authorize_returns_the_record_when_the_role_allows() -> None:
    key, _ = generate_key()
    record = _record(key, Role.DEPLOYER)
    assert authorize(f"Bearer {key}", _lookup(record), Action.DEPLOY) is record


def test_authorize_missing_header_is_unauthenticated() -> None:
    with pytest.raises(MissingCredentialsError):
        authorize(None, _lookup(), Action.PREDICT)


def test_authorize_unknown_key_is_unauthenticated() -> None:
    key, _ = generate_key()
    with pytest.raises(InvalidKeyError) as info:
        authorize(f"Bearer {key}", _lookup(), Action.PREDICT)
    assert info.value.reason == "unknown" and key not in str(info.value)


def test_authorize_wrong_secret_for_a_known_id_looks_like_unknown() -> None:
    key, _ = generate_key()
    prefix, kid, secret = key.split("_")
    forged = f"{prefix}_{kid}_{'0' * len(secret)}"
    with pytest.raises(InvalidKeyError) as info:
        authorize(f"Bearer {forged}", _lookup(_record(key, Role.ADMIN)), Action.PREDICT)
    assert info.value.reason == "unknown"
    assert kid not in str(info.value)


def test_authorize_malformed_key_is_unauthenticated() -> None:
    with pytest.raises(InvalidKeyError) as info:
        authorize("Bearer not-a-key", _lookup(), Action.PREDICT)
    assert info.value.reason == "malformed"


def test_authorize_revoked_key_is_unauthenticated_even_for_admin() -> None:
    key, _ = generate_key()
    record = _record(key, Role.ADMIN, revoked_at=AT)
    with pytest.raises(InvalidKeyError) as info:
        authorize(f"Bearer {key}", _lookup(record), Action.PREDICT)
    assert info.value.reason == "revoked" and "revoked" in info.value.message
    assert not isinstance(info.value, ForbiddenError)


@pytest.mark.parametrize(("role", "action"), [(Role.PREDICT, Action.LIST_MODELS), (Role.VIEWER, Action.PREDICT),
                                              (Role.VIEWER, Action.DEPLOY), (Role.DEPLOYER, Action.MANAGE_KEYS)])
def test_authorize_insufficient_role_is_forbidden(role: Role, action: Action) -> None:
    key, _ = generate_key()
    with pytest.raises(ForbiddenError) as info:
        authorize(f"Bearer {key}", _lookup(_record(key, role)), action)
    error = info.value
    assert not isinstance(error, UnauthenticatedError) and isinstance(error, AuthError)
    assert (error.role, error.action, error.code) == (role, action, "auth-forbidden")
    assert "admin" in error.hint and key not in str(error)


def test_error_classes_have_distinct_codes() -> None:
    classes = [AuthError, UnauthenticatedError, MissingCredentialsError, MalformedCredentialsError,
               InvalidKeyError, ForbiddenError]
    assert len({cls.code for cls in classes}) == len(classes)


def test_api_key_needs_aware_timestamps() -> None:
    key, stored = generate_key()
    with pytest.raises(ValueError, match="timezone-aware"):
        ApiKey(id=key_id(key), name="x", role=Role.VIEWER, hash=stored, created_at=datetime(2025, 1, 1))
    assert not _record(key, Role.VIEWER).is_revoked
