"""The hash-chained audit log on every SQL backend: an intact chain verifies, and editing,
deleting or reordering rows directly in the database (bypassing the store) is detected and
named; the migration chains the rows written before the chain existed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from assay.registry._orm import AuditRow
from assay.registry._sql_migrate import alembic_config
from assay.registry.audit_chain import CHAIN_STARTED_ACTION, GENESIS_HASH, ChainVerdict, hash_of, verify_chain
from assay.registry.sql import SqlMetadataStore
from tests.contract.test_metadata_store import register, with_run

T0 = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
AUDIT = AuditRow.__table__
DETAILS = {"reason": "first release", "b": 1.5, "a": [1, "é", None], "nested": {"z": True, "y": 10**15}}


@pytest.fixture
def store(store_url: str) -> Iterator[SqlMetadataStore]:
    store = SqlMetadataStore.from_url(store_url)
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def raw(store_url: str) -> Iterator[sa.Engine]:
    """A second connection to the same database that bypasses the store: the tamperer's."""
    engine = sa.create_engine(store_url)
    yield engine
    engine.dispose()


def fill(store: SqlMetadataStore, count: int = 5) -> None:
    for i in range(count):
        store.append_audit(actor=f"user-{i}", action="test.step", subject=f"thing:{i}",
                           details={**DETAILS, "i": i}, at=T0 + i * MINUTE)


def verify(store: SqlMetadataStore, expect_head: str | None = None) -> ChainVerdict:
    return verify_chain(store.iter_audit(), expect_head=expect_head)


def row(engine: sa.Engine, seq: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(AUDIT).where(AUDIT.c.seq == seq)).mappings().one())


def update(engine: sa.Engine, seq: int, **values: Any) -> None:
    with engine.begin() as conn:
        assert conn.execute(sa.update(AUDIT).where(AUDIT.c.seq == seq).values(**values)).rowcount == 1


def test_intact_chain_verifies_and_reports_its_head(store: SqlMetadataStore) -> None:
    fill(store)
    entries = list(store.iter_audit())
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(entries, entries[1:], strict=False))
    # The hash re-computed from what the database gives back equals the one written: the JSON and
    # timestamp round trips are exact on this backend.
    assert all(e.hash == hash_of(e, e.prev_hash) for e in entries)
    verdict = verify(store)
    assert verdict.intact and verdict.entries == 5
    assert (verdict.head_seq, verdict.head_hash) == (5, entries[-1].hash)
    assert verify(store, expect_head=entries[-1].hash.upper()).intact


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("details", {**DETAILS, "i": 2, "reason": "forged"}),
        ("actor", "mallory"),
        ("at", T0 + 2 * MINUTE + timedelta(microseconds=1)),
        ("action", "test.other"),
        ("subject", "thing:99"),
    ],
)
def test_an_edited_entry_is_named(store: SqlMetadataStore, raw: sa.Engine, column: str, value: Any) -> None:
    fill(store)
    update(raw, 3, **{column: value})
    verdict = verify(store)
    assert verdict.broken is not None
    assert (verdict.broken.problem, verdict.broken.seq) == ("edited", 3)
    assert verdict.broken.action == ("test.other" if column == "action" else "test.step")  # as stored now
    assert verdict.head_seq == 2  # the last entry that still holds


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(store: SqlMetadataStore, raw: sa.Engine) -> None:
    fill(store)
    before = row(raw, 3)
    entry = next(e for e in store.iter_audit() if e.seq == 3)
    forged = hash_of(type(entry)(**{**_fields(entry), "actor": "mallory"}), before["prev_hash"])
    update(raw, 3, actor="mallory", hash=forged)
    broken = verify(store).broken
    assert broken is not None and (broken.problem, broken.seq) == ("unlinked", 4)


def test_a_deleted_middle_entry_is_named_with_the_gap(store: SqlMetadataStore, raw: sa.Engine) -> None:
    fill(store)
    with raw.begin() as conn:
        conn.execute(sa.delete(AUDIT).where(AUDIT.c.seq == 3))
    broken = verify(store).broken
    assert broken is not None
    assert (broken.problem, broken.seq, broken.missing_seqs) == ("unlinked", 4, (3, 3))
    assert "seq 3 is absent" in broken.detail


def test_a_deleted_first_entry_is_detected(store: SqlMetadataStore, raw: sa.Engine) -> None:
    fill(store)
    with raw.begin() as conn:
        conn.execute(sa.delete(AUDIT).where(AUDIT.c.seq == 1))
    broken = verify(store).broken
    assert broken is not None and (broken.problem, broken.seq) == ("unlinked", 2)


@pytest.mark.parametrize("with_hashes", [False, True])
def test_swapped_entries_are_detected(store: SqlMetadataStore, raw: sa.Engine, with_hashes: bool) -> None:
    fill(store)
    columns = ["at", "actor", "action", "subject", "details"] + (["prev_hash", "hash"] if with_hashes else [])
    second, third = row(raw, 2), row(raw, 3)
    update(raw, 2, **{c: third[c] for c in columns})
    update(raw, 3, **{c: second[c] for c in columns})
    broken = verify(store).broken
    assert broken is not None and broken.seq == 2
    assert broken.problem == ("unlinked" if with_hashes else "edited")


def test_a_truncated_tail_is_caught_only_against_an_anchored_head(store: SqlMetadataStore, raw: sa.Engine) -> None:
    fill(store, 4)
    anchored = verify(store).head_hash
    fill(store, 2)
    assert verify(store, expect_head=anchored).intact  # entries appended since the anchor are fine
    with raw.begin() as conn:
        conn.execute(sa.delete(AUDIT).where(AUDIT.c.seq >= 4))
    assert verify(store).intact  # a shorter chain is still a chain: the limit the docs state
    broken = verify(store, expect_head=anchored).broken
    assert broken is not None and (broken.problem, broken.seq) == ("anchor-missing", 3)
    assert anchored in broken.detail


def test_appends_need_no_update_or_delete_right(store: SqlMetadataStore, raw: sa.Engine) -> None:
    # A DBA may enforce append-only in the database itself; the store must keep working then.
    with raw.begin() as conn:
        if raw.dialect.name == "sqlite":
            for event in ("UPDATE", "DELETE"):
                conn.exec_driver_sql(f"CREATE TRIGGER audit_no_{event.lower()} BEFORE {event} ON audit_log "
                                     "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                                 "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$")
            conn.exec_driver_sql("CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_log "
                                 "FOR EACH ROW EXECUTE FUNCTION audit_refuse()")
    fill(store, 3)
    assert verify(store).intact
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), raw.begin() as conn:
        conn.execute(sa.delete(AUDIT).where(AUDIT.c.seq == 2))


def test_a_seq_is_never_reused_after_the_newest_rows_were_deleted(store: SqlMetadataStore, raw: sa.Engine) -> None:
    fill(store, 4)
    with raw.begin() as conn:
        conn.execute(sa.delete(AUDIT).where(AUDIT.c.seq >= 3))
    entry = store.append_audit(actor="u", action="x", subject="s", details={}, at=T0)
    assert entry.seq == 5


def test_appends_after_a_verified_chain_keep_it_valid(store: SqlMetadataStore) -> None:
    fill(store, 3)
    head = verify(store).head_hash
    fill(store, 2)
    entries = list(store.iter_audit())
    assert entries[3].prev_hash == head and verify(store).intact


def test_streaming_crosses_page_boundaries(store: SqlMetadataStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.registry import _sql_audit

    fill(store, 7)
    monkeypatch.setattr(_sql_audit, "STREAM_BATCH", 3)
    pages = list(_sql_audit.stream(store._read_engine, batch=3))
    assert [e.seq for e in pages] == list(range(1, 8))
    assert verify_chain(pages).intact


def test_list_audit_by_model_covers_versions_and_aliases_only(store: SqlMetadataStore) -> None:
    subjects = ["a_c", "a_c:1", "a_c@production", "abc:1", "a_c-v2:1", "a_cd", "run-1"]
    for i, subject in enumerate(subjects):
        store.append_audit(actor="u", action="x", subject=subject, details={}, at=T0 + i * MINUTE)
    assert [e.subject for e in store.list_audit(model="a_c")] == ["a_c", "a_c:1", "a_c@production"]
    since = store.list_audit(model="a_c", since=T0 + MINUTE)
    assert [e.subject for e in since] == ["a_c:1", "a_c@production"]


def test_sqlite3_edit_outside_sqlalchemy_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "assay.db"
    store = SqlMetadataStore.from_url(f"sqlite:///{path}")
    try:
        store.migrate()
        fill(store)
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE audit_log SET details = json_set(details, '$.reason', 'forged') WHERE seq = 4")
        broken = verify(store).broken
        assert broken is not None and (broken.problem, broken.seq) == ("edited", 4)
    finally:
        store.close()


def test_model_registration_and_aliases_are_chained(store: SqlMetadataStore) -> None:
    model = register(with_run(store))
    store.set_alias(model.name, "production", model.version, actor="alice", reason="go", at=T0 + MINUTE)
    verdict = verify(store)
    assert verdict.intact and verdict.entries == len(store.list_audit()) >= 4
    assert [e.subject for e in store.list_audit(model="credit")] == ["credit:1", "credit@production"]


# --- the migration chains what existed before it ---------------------------------------------------


def test_migration_chains_existing_entries_in_seq_order(store_url: str, raw: sa.Engine) -> None:
    with raw.begin() as conn:
        command.upgrade(alembic_config(conn), "0003")
    old = sa.table("audit_log", sa.column("at", AuditRow.at.type), sa.column("actor"), sa.column("action"),
                   sa.column("subject"), sa.column("details", sa.JSON()))
    with raw.begin() as conn:
        for i in range(4):
            conn.execute(old.insert().values(at=T0 + i * MINUTE, actor="old", action="model.registered",
                                             subject=f"credit:{i + 1}", details={"i": i, "reason": "before"}))
    store = SqlMetadataStore.from_url(store_url)
    try:
        store.migrate()
        assert store.is_migrated()
        verdict = verify(store)
        assert verdict.intact and verdict.entries == 5 and verdict.chain_started_seq == 4
        entries = list(store.iter_audit())
        assert [e.actor for e in entries[:4]] == ["old"] * 4 and entries[0].prev_hash == GENESIS_HASH
        assert entries[4].action == CHAIN_STARTED_ACTION
        assert entries[4].details == {"existing_entries": 4, "last_existing_seq": 4}
        fill(store, 2)
        assert verify(store).intact
        update(raw, 2, actor="mallory")  # an edit after the upgrade is caught like any other
        broken = verify(store).broken
        assert broken is not None and (broken.problem, broken.seq) == ("edited", 2)
    finally:
        store.close()


def test_migration_of_an_empty_log_adds_no_entry(store: SqlMetadataStore) -> None:
    assert list(store.iter_audit()) == []
    verdict = verify(store)
    assert verdict.intact and verdict.head_hash == GENESIS_HASH and verdict.chain_started_seq is None


def _fields(entry: Any) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in entry.__dataclass_fields__}
