"""The metadata store's API keys and deployment state, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assay.errors import NotFoundError
from assay.registry.store import MetadataStore
from assay.security.keys import ApiKey, Role, generate_key, key_id, verify
from tests.contract.test_metadata_store import T0, make_dataset, make_run, register, sql_store, store  # noqa: F401


def _key(name: str = "svc", role: Role = Role.PREDICT) -> tuple[str, ApiKey]:
    key, hashed = generate_key()
    return key, ApiKey(id=key_id(key), name=name, role=role, hash=hashed, created_at=T0)


def _models(store: MetadataStore, count: int) -> None:
    store.add_dataset(make_dataset())
    store.add_run(make_run())
    for _ in range(count):
        register(store)


def test_keys_are_stored_as_hashes_listed_and_revoked_once(store: MetadataStore) -> None:
    key, record = _key()
    store.add_api_key(record, actor="alice")
    loaded = store.get_api_key(record.id)
    assert loaded == record and verify(key, loaded.hash) and key not in repr(loaded)
    assert store.get_api_key("0" * 16) is None
    later = T0 + timedelta(hours=1)
    revoked = store.revoke_api_key(record.id, actor="bob", at=later)
    assert revoked.revoked_at == later
    again = store.revoke_api_key(record.id, actor="bob", at=later + timedelta(hours=1))
    assert again.revoked_at == later  # the first revocation stands
    assert [k.id for k in store.list_api_keys()] == [record.id]
    actions = [(e.action, e.actor) for e in store.list_audit(subject=f"key:{record.id}")]
    assert actions == [("key.created", "alice"), ("key.revoked", "bob")]
    assert all(record.hash not in str(e.details) for e in store.list_audit())
    with pytest.raises(NotFoundError):
        store.revoke_api_key("f" * 16, actor="bob", at=later)


def test_deployment_changes_move_production_and_canary_in_one_audited_step(store: MetadataStore) -> None:
    _models(store, 3)
    assert store.get_deployment("credit").production is None
    store.set_alias("credit", "production", 1, actor="a", reason="first", at=T0)
    canary = store.change_deployment("credit", canary=2, canary_percent=10.0, shadow=3, fallback=None, action="canary",
                                     actor="dep", reason="try v2", at=T0)
    assert (canary.production, canary.canary, canary.canary_percent, canary.shadow) == (1, 2, 10.0, 3)
    promoted = store.change_deployment("credit", canary=None, canary_percent=0.0, shadow=3, fallback=1, action="promote",
                                       actor="dep", reason="v2 is good", at=T0, production=2)
    assert (promoted.production, promoted.canary, promoted.fallback, promoted.revision) == (2, None, 1, canary.revision + 1)
    assert store.get_deployment("credit") == promoted
    assert store.alias_history("credit", "production")[0].previous_version == 1
    actions = [e.action for e in store.list_audit()]
    assert actions[-3:] == ["deployment.canary", "alias.moved", "deployment.promote"]


def test_a_deployment_naming_a_missing_version_changes_nothing(store: MetadataStore) -> None:
    _models(store, 1)
    store.set_alias("credit", "production", 1, actor="a", reason="first", at=T0)
    before = store.get_deployment("credit")
    with pytest.raises(NotFoundError):
        store.change_deployment("credit", canary=9, canary_percent=5.0, shadow=None, fallback=None, action="canary",
                                actor="dep", reason="typo", at=T0)
    with pytest.raises(NotFoundError):
        store.change_deployment("nope", canary=None, canary_percent=0.0, shadow=None, fallback=None, action="rollback",
                                actor="dep", reason="x", at=T0)
    assert store.get_deployment("credit") == before
